// A Kafka cluster for tests: librdkafka's mock cluster (test/support/kafka-mock/kafka-mock.c),
// compiled once per source version with the machine's C compiler against Debian's
// librdkafka (.ci/run installs gcc and librdkafka-dev), and started per suite. No Kafka
// broker installs on these machines; the mock speaks the Kafka protocol (produce, fetch,
// consumer groups, offset commits) as librdkafka's own test suite uses it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { packageRoot } from '../../src/package-root.js';
import { toolGate, uniqueName } from './services.js';

const SOURCE = join(packageRoot(), 'test', 'support', 'kafka-mock', 'kafka-mock.c');

let built: { path: string } | { missing: string } | undefined;

/** Compiles the launcher (cached by source hash); the path, or why it cannot be built. */
function build(): { path: string } | { missing: string } {
  if (built) return built;
  const source = readFileSync(SOURCE);
  const dir = join(tmpdir(), 'tsim-kafka-mock');
  const path = join(dir, `kafka-mock-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (existsSync(path)) return (built = { path });
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h')) return (built = { missing: 'is not installed (librdkafka-dev: no rdkafka_mock.h)' });
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}`;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', tmp, SOURCE, '-lrdkafka', '-ldl'], { encoding: 'utf8' });
  if (cc.error) return (built = { missing: `cannot be built: ${cc.error.message}` });
  if (cc.status !== 0) return (built = { missing: `cannot be built: gcc exited ${cc.status}: ${cc.stderr.trim()}` });
  renameSync(tmp, path);
  return (built = { path });
}

/** For suites: false when the mock cluster can be built here, else the skip reason (throws under TSIM_REQUIRE_SERVICES=1). */
export function kafkaMockGate(): false | string {
  const b = build();
  return toolGate('the Kafka mock cluster (gcc + librdkafka-dev)', 'missing' in b ? b.missing : null);
}

export class KafkaMock {
  private readonly answers: string[] = [];
  private waiting: ((line: string) => void) | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: Interface,
    /** host:port of every broker. */
    readonly brokers: string[],
  ) {
    lines.on('line', (line) => {
      const w = this.waiting;
      this.waiting = null;
      if (w) w(line);
      else this.answers.push(line);
    });
  }

  /** Starts a cluster of `brokerCount` brokers on 127.0.0.1. */
  static async start(brokerCount = 3): Promise<KafkaMock> {
    const b = build();
    if ('missing' in b) throw new Error(`Kafka mock cluster ${b.missing}`);
    const child = spawn(b.path, [String(brokerCount)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`kafka-mock exited ${code} before listening`)));
      child.once('error', reject);
    });
    const m = /^bootstrap (\S+)$/.exec(first);
    if (!m) throw new Error(`kafka-mock: unexpected first line ${JSON.stringify(first)}`);
    return new KafkaMock(child, lines, m[1].split(','));
  }

  private next(): Promise<string> {
    const ready = this.answers.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Creates a topic (the mock has no CreateTopics API); returns its name. */
  async createTopic(name: string, partitions: number): Promise<string> {
    this.child.stdin!.write(`topic ${name} ${partitions}\n`);
    const answer = await this.next();
    if (answer !== 'ok') throw new Error(`kafka-mock: topic ${name}: ${answer}`);
    return name;
  }

  /** A new topic with a name unique to this run. */
  uniqueTopic(partitions: number): Promise<string> {
    return this.createTopic(uniqueName('tsimtest-'), partitions);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.lines.close();
  }
}
