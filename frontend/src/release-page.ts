// The release page's parts: what this release is (from `GET /api/release`), what it changes (the
// notes embedded at build time) and how warmup and health ran (the timeline). Everything is
// built as DOM nodes with textContent: no HTML string reaches the page, and bar positions are set
// through the CSSOM (`style.left`), which the CSP's `style-src 'self'` allows.
import notes from "virtual:release-notes";
import type { Release } from "./api";
import { inlineSegments } from "./changelog";
import { formatMs, layoutTimeline, type Bar, type CallTiming } from "./timeline";

function node<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function find<T extends HTMLElement>(root: ParentNode, selector: string): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

const ENVIRONMENTS: Record<Release["environment"], string> = {
  development: "Development",
  staging: "Staging",
  production: "Production",
};

/** The release id shortened as git does; the whole id stays in the link's title. */
const SHORT_ID = 12;

/** A link only to an https commit page: the API checks REPOSITORY_URL, the page does not trust it blindly. */
function commitLink(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The environment badge (its name in text, its colour as a second cue) and the facts. */
export function renderRelease(root: HTMLElement, release: Release | undefined, error?: string): void {
  const badge = find<HTMLElement>(root, ".env");
  badge.dataset.env = release?.environment ?? "unknown";
  badge.textContent = release ? ENVIRONMENTS[release.environment] : "Environment unknown";
  const errorLine = find<HTMLElement>(root, ".error");
  errorLine.hidden = !error;
  errorLine.textContent = error ?? "";

  const facts = find<HTMLDListElement>(root, ".facts");
  facts.hidden = !release;
  if (!release) {
    facts.replaceChildren();
    return;
  }
  const releaseId = document.createDocumentFragment();
  const id = release.releaseId;
  const href = commitLink(release.commitUrl);
  if (id && href) {
    const link = node("a", undefined, id.slice(0, SHORT_ID));
    link.href = href;
    link.title = `commit ${id}`;
    releaseId.append(link);
  } else {
    releaseId.append(id ? node("code", undefined, id.length > 40 ? `${id.slice(0, 40)}…` : id) : "unknown");
  }
  const entries: [string, string | Node][] = [
    ["Environment", ENVIRONMENTS[release.environment]],
    ["Version", release.version],
    ["Release", releaseId],
    ["Instance", release.instanceId],
    ["Service", release.serviceId],
  ];
  facts.replaceChildren(
    ...entries.flatMap(([term, value]) => {
      const dd = node("dd");
      dd.append(value);
      return [node("dt", undefined, term), dd];
    }),
  );
}

/** The changelog highlights this build embeds, as text with `code` spans. */
export function renderNotes(root: HTMLElement): void {
  const source = find<HTMLElement>(root, ".source");
  source.textContent =
    notes.source === "unreleased"
      ? `Changes in this build not yet released (the version still reads ${notes.version}):`
      : notes.source === "release"
        ? `Version ${notes.version}${notes.date ? `, released ${notes.date}` : ""}:`
        : `CHANGELOG.md has no entries for version ${notes.version}.`;
  const groups = find<HTMLElement>(root, ".groups");
  const parts: HTMLElement[] = [];
  if (notes.summary) parts.push(inline(node("p", "summary"), notes.summary));
  for (const group of notes.groups) {
    parts.push(node("h3", undefined, group.kind || "Changes"));
    const list = node("ul");
    for (const item of group.items) list.append(inline(node("li"), item));
    parts.push(list);
    if (group.more > 0) parts.push(node("p", "more", `…and ${group.more} more in CHANGELOG.md`));
  }
  groups.replaceChildren(...parts);
}

function inline<T extends HTMLElement>(element: T, text: string): T {
  element.append(...inlineSegments(text).map((s) => (s.code ? node("code", undefined, s.text) : document.createTextNode(s.text))));
  return element;
}

/** A call as the timeline shows it; `note` says why its steps are not drawn, when they are not. */
export type TimedCall = CallTiming & { note?: string };

function place(bar: HTMLElement, at: Bar): HTMLElement {
  bar.style.left = `${at.left}%`;
  bar.style.width = `${at.width}%`;
  return bar;
}

/** Each call as a labelled bar on one axis, its steps below it; the numbers are also text. */
export function renderTimeline(root: HTMLElement, calls: TimedCall[]): void {
  const layout = layoutTimeline(calls);
  const summary = find<HTMLElement>(root, ".summary");
  if (calls.length < 2) {
    summary.textContent = "Waiting for both calls…";
  } else if (layout.overlapMs > 0) {
    summary.textContent = `Both calls were in flight at the same time for ${formatMs(layout.overlapMs)}: they ran in parallel. All answered ${formatMs(Math.max(...layout.lanes.map((l) => l.call.endMs)))} after the first was sent.`;
  } else {
    summary.textContent = "The calls did not overlap: one ran after the other.";
  }

  const lanes = layout.lanes.map((lane, i) => {
    const call = calls[i]!;
    const item = node("li", "lane");
    item.dataset.call = lane.call.name.toLowerCase();
    item.dataset.ok = String(lane.call.ok);
    const label = node("p", "lane-label");
    label.append(
      node("strong", undefined, lane.call.name),
      ` ${lane.call.ok ? "" : "(failed) "}from ${formatMs(lane.call.startMs)} to ${formatMs(lane.call.endMs)}: ${formatMs(lane.call.durationMs)}`,
    );
    const track = node("div", "track");
    track.setAttribute("aria-hidden", "true");
    track.append(place(node("div", "bar call"), lane.call));
    item.append(label, track);
    if (lane.steps.length > 0) {
      const stepTrack = node("div", "track steps");
      stepTrack.setAttribute("aria-hidden", "true");
      const list = node("ol", "step-list");
      lane.steps.forEach((step, n) => {
        const bar = place(node("div", `bar step step-${n % 4}`), step);
        bar.dataset.ok = String(step.ok);
        stepTrack.append(bar);
        const swatch = node("span", `swatch step-${n % 4}`);
        swatch.setAttribute("aria-hidden", "true");
        const entry = node("li");
        entry.append(swatch, `${step.name}: ${formatMs(step.durationMs)}${step.ok ? "" : " (failed)"}`);
        list.append(entry);
      });
      item.append(stepTrack, list);
    } else if (call.note) {
      item.append(node("p", "note", call.note));
    }
    return item;
  });
  find<HTMLElement>(root, ".lanes").replaceChildren(...lanes);

  const axis = find<HTMLElement>(root, ".axis");
  axis.replaceChildren(
    ...layout.ticks.map((tick, i) => {
      const mark = node("span", i === 0 ? "tick first" : i === layout.ticks.length - 1 ? "tick last" : "tick", formatMs(tick.ms));
      mark.style.left = `${tick.left}%`;
      return mark;
    }),
  );
}
