// The demo's player: an animated canvas scene standing in for a video, with danmaku flying
// across it right to left in lanes, as bilibili draws them. Each shown danmaku is also listed
// in a visually hidden live region, for screen readers (and the browser test).

export interface FlyingDanmaku {
  text: string;
  color: string;
  /** Drawn with an outline: the viewer's own danmaku. */
  own: boolean;
}

interface Flight extends FlyingDanmaku {
  x: number;
  lane: number;
  width: number;
  /** Pixels per second. */
  speed: number;
}

const FONT_PX = 22;
const LANE_GAP = 8;
/** Seconds a danmaku takes to cross the stage, whatever its length (longer ones move faster). */
const CROSS_S = 7;
const MAX_LOG = 50;
/** More than this waiting for a lane and the oldest waiting are dropped (a flood stays watchable). */
const MAX_WAITING = 200;

export class DanmakuStage {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly flights: Flight[] = [];
  private readonly waiting: FlyingDanmaku[] = [];
  private last = 0;
  private t = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly log: HTMLOListElement,
  ) {
    const ctx = canvas.getContext('2d');
    if (ctx === null) throw new Error('demo: no 2d canvas');
    this.ctx = ctx;
    requestAnimationFrame(this.frame);
  }

  /** Danmaku on screen now. */
  get flying(): number {
    return this.flights.length;
  }

  add(d: FlyingDanmaku): void {
    this.waiting.push(d);
    if (this.waiting.length > MAX_WAITING) this.waiting.splice(0, this.waiting.length - MAX_WAITING);
    const li = document.createElement('li');
    li.textContent = d.text;
    this.log.append(li);
    while (this.log.childElementCount > MAX_LOG) this.log.firstElementChild?.remove();
  }

  private lanes(): number {
    return Math.max(1, Math.floor((this.canvas.height - LANE_GAP) / (FONT_PX + LANE_GAP)));
  }

  /** A lane whose last danmaku has moved far enough in, or -1. */
  private freeLane(w: number): number {
    const tail = new Array<number>(this.lanes()).fill(-Infinity);
    for (const f of this.flights) tail[f.lane] = Math.max(tail[f.lane], f.x + f.width);
    for (let i = 0; i < tail.length; i++) if (tail[i] < w - 24) return i;
    return -1;
  }

  private readonly frame = (now: number): void => {
    const dt = this.last === 0 ? 0 : Math.min(0.1, (now - this.last) / 1000);
    this.last = now;
    this.t += dt;
    this.resize();
    const { ctx, canvas } = this;
    const w = canvas.width;
    const h = canvas.height;
    this.scene(w, h);
    ctx.font = `600 ${FONT_PX}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    while (this.waiting.length > 0) {
      const lane = this.freeLane(w);
      if (lane < 0) break;
      const d = this.waiting.shift()!;
      const width = ctx.measureText(d.text).width;
      this.flights.push({ ...d, lane, width, x: w, speed: (w + width) / CROSS_S });
    }
    for (let i = this.flights.length - 1; i >= 0; i--) {
      const f = this.flights[i];
      f.x -= f.speed * dt;
      if (f.x + f.width < 0) {
        this.flights.splice(i, 1);
        continue;
      }
      const y = LANE_GAP + f.lane * (FONT_PX + LANE_GAP);
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(0,0,0,0.6)';
      ctx.strokeText(f.text, f.x, y);
      ctx.fillStyle = f.color;
      ctx.fillText(f.text, f.x, y);
      if (f.own) {
        ctx.strokeStyle = '#5bc0ff';
        ctx.lineWidth = 1.5;
        ctx.strokeRect(f.x - 3, y - 3, f.width + 6, FONT_PX + 6);
      }
    }
    this.canvas.dataset.flying = String(this.flights.length);
    requestAnimationFrame(this.frame);
  };

  private resize(): void {
    const c = this.canvas;
    const w = Math.round(c.clientWidth * devicePixelRatio);
    const h = Math.round(c.clientHeight * devicePixelRatio);
    if (w > 0 && h > 0 && (c.width !== w || c.height !== h)) {
      c.width = w;
      c.height = h;
    }
  }

  /** The "video": a dusk sky with drifting hills and a moving sun, so the stage visibly plays. */
  private scene(w: number, h: number): void {
    const { ctx, t } = this;
    const sky = ctx.createLinearGradient(0, 0, 0, h);
    sky.addColorStop(0, '#1b2a4a');
    sky.addColorStop(1, '#c0627a');
    ctx.fillStyle = sky;
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = '#ffd27a';
    ctx.beginPath();
    ctx.arc(w * (0.2 + 0.6 * ((t / 40) % 1)), h * 0.55, h * 0.12, 0, Math.PI * 2);
    ctx.fill();
    for (const [k, color, speed] of [
      [0.62, '#3b3456', 12],
      [0.75, '#272340', 24],
    ] as const) {
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(0, h);
      for (let x = 0; x <= w; x += 16) ctx.lineTo(x, h * k + Math.sin((x + t * speed) / 90) * h * 0.05);
      ctx.lineTo(w, h);
      ctx.fill();
    }
  }
}
