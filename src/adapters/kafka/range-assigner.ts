// goim's jobs join their group with sarama-cluster's default strategy, "range"; a group whose
// members name no strategy in common is refused by the broker, so tsim's jobs name "range"
// too and, as the group's leader, assign as Kafka's range assignor does: members sorted by id,
// each topic's partitions cut into consecutive runs, the first `count % members` runs one
// longer. Whoever leads, every partition has one owner.
import type { GroupPartitionsAssigner } from '@platformatic/kafka';

/** The strategy goim's jobs announce (sarama-cluster's StrategyRange), at subscription version 0. */
export const RANGE_PROTOCOL = { name: 'range', version: 0 };

export const rangeAssigner: GroupPartitionsAssigner = (_current, members, topics, metadata) => {
  const ids = [...members.keys()].sort();
  const out = ids.map((memberId) => ({ memberId, assignments: new Map<string, { topic: string; partitions: number[] }>() }));
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const each = Math.floor(count / ids.length);
    const extra = count % ids.length;
    for (let i = 0; i < ids.length; i++) {
      const start = each * i + Math.min(i, extra);
      const length = each + (i < extra ? 1 : 0);
      if (length === 0) continue;
      out[i].assignments.set(topic, { topic, partitions: Array.from({ length }, (_, k) => start + k) });
    }
  }
  return out;
};
