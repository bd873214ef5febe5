import { describe, expect, it } from "vitest";
import { formatMs, layoutTimeline, tickStep, type CallTiming } from "../src/timeline";

const warmup: CallTiming = {
  name: "Warmup",
  start: 1000,
  end: 1180,
  ok: true,
  server: {
    totalMs: 160,
    steps: [
      { name: "database.schema", durationMs: 40, ok: true },
      { name: "database.connections", durationMs: 20, ok: true },
      { name: "password.hasher", durationMs: 100, ok: true },
    ],
  },
};
const health: CallTiming = { name: "Health", start: 1002, end: 1052, ok: true };

describe("layoutTimeline", () => {
  it("puts both calls on one axis from the first start, ending on a round tick", () => {
    const layout = layoutTimeline([warmup, health]);
    expect(layout.spanMs).toBe(200);
    expect(layout.ticks.map((t) => t.ms)).toEqual([0, 50, 100, 150, 200]);
    expect(layout.ticks.map((t) => t.left)).toEqual([0, 25, 50, 75, 100]);
    const [w, h] = layout.lanes;
    expect(w!.call).toMatchObject({ name: "Warmup", startMs: 0, endMs: 180, durationMs: 180, left: 0, width: 90 });
    expect(h!.call).toMatchObject({ name: "Health", startMs: 2, endMs: 52, left: 1, width: 25 });
  });

  it("measures how long the calls ran at the same time", () => {
    expect(layoutTimeline([warmup, health]).overlapMs).toBe(50);
    expect(layoutTimeline([warmup, { ...health, start: 1200, end: 1250 }]).overlapMs).toBe(0);
  });

  it("lays the server's steps one after another inside the call, the network time split around them", () => {
    const [w] = layoutTimeline([warmup, health]).lanes;
    // 180 ms in flight, 160 ms on the server: 10 ms either side.
    expect(w!.steps.map((s) => [s.name, s.startMs, s.endMs])).toEqual([
      ["database.schema", 10, 50],
      ["database.connections", 50, 70],
      ["password.hasher", 70, 170],
    ]);
    expect(w!.steps.map((s) => s.left)).toEqual([5, 25, 35]);
  });

  it("scales steps down when the server's run reads longer than the call (another clock)", () => {
    const call: CallTiming = { ...warmup, end: 1080 };
    const [w] = layoutTimeline([call]).lanes;
    const steps = w!.steps;
    expect(steps[0]!.startMs).toBe(0);
    expect(steps.at(-1)!.endMs).toBeCloseTo(80);
    expect(steps[2]!.durationMs).toBeCloseTo(50);
  });

  it("keeps a tiny step visible and every bar on the track", () => {
    const call: CallTiming = { name: "x", start: 0, end: 1000, ok: true, server: { totalMs: 1000, steps: [{ name: "tiny", durationMs: 0.01, ok: true }, { name: "rest", durationMs: 999.99, ok: false }] } };
    const [lane] = layoutTimeline([call]).lanes;
    expect(lane!.steps[0]!.width).toBe(0.75);
    for (const b of [lane!.call, ...lane!.steps]) expect(b.left + b.width).toBeLessThanOrEqual(100);
    expect(lane!.steps[1]!.ok).toBe(false);
  });

  it("pushes the step after a widened sliver along, so steps never overlap", () => {
    const call: CallTiming = { name: "x", start: 0, end: 1000, ok: true, server: { totalMs: 1000, steps: [{ name: "a", durationMs: 0.1, ok: true }, { name: "b", durationMs: 0.1, ok: true }, { name: "c", durationMs: 999.8, ok: true }] } };
    const [lane] = layoutTimeline([call]).lanes;
    const steps = lane!.steps;
    expect(steps.map((s) => s.left)).toEqual([0, 0.75, 1.5]);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.left).toBeGreaterThanOrEqual(steps[i - 1]!.left + steps[i - 1]!.width);
    // The last still ends where its time ends.
    expect(steps[2]!.left + steps[2]!.width).toBeCloseTo(100);
  });

  it("draws nothing for no calls, and a zero-length call as a sliver", () => {
    expect(layoutTimeline([])).toEqual({ spanMs: 0, ticks: [], lanes: [], overlapMs: 0 });
    const layout = layoutTimeline([{ name: "x", start: 5, end: 5, ok: true }]);
    expect(layout.spanMs).toBe(1);
    expect(layout.lanes[0]!.call.width).toBe(0.75);
  });
});

describe("the axis and the labels", () => {
  it("picks 1, 2 or 5 × 10ⁿ ticks", () => {
    expect(tickStep(200)).toBe(50);
    expect(tickStep(3)).toBe(1);
    expect(tickStep(7300)).toBe(2000);
    expect(tickStep(0)).toBe(1);
  });

  it("formats milliseconds and seconds", () => {
    expect(formatMs(3.14159)).toBe("3.1 ms");
    expect(formatMs(182.4)).toBe("182 ms");
    expect(formatMs(1234)).toBe("1.23 s");
  });
});
