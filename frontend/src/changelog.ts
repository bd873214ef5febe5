// The release notes the page shows, read from CHANGELOG.md at build time (vite.config.ts embeds
// them as the module `virtual:release-notes`). Pure functions: run by Vite in Node, tested by
// vitest on the real CHANGELOG.md. The page renders the result as text, never as HTML.

/** One `## …` section of a Keep a Changelog file. */
export interface Section {
  /** `Unreleased` or a version such as `0.1.0`, without brackets. */
  name: string;
  /** The `YYYY-MM-DD` after ` - `, if any. */
  date?: string;
  /** The lines between this heading and the next `## ` heading (fenced code skipped). */
  lines: string[];
}

/** The top-level items under one `### Kind` heading (or under none: kind ""). */
export interface ItemGroup {
  kind: string;
  items: string[];
}

export interface HighlightGroup {
  kind: string;
  /** The first sentence of each of the first items, shortened. */
  items: string[];
  /** How many more items the section has in this group. */
  more: number;
}

export interface ReleaseNotes {
  /**
   * `unreleased`: the `[Unreleased]` section has entries, so this build carries changes the
   * version's own section (if any) does not list. `release`: the section of `version`.
   * `none`: neither has entries.
   */
  source: "unreleased" | "release" | "none";
  /** The workspace version the build was made from. */
  version: string;
  date?: string;
  /** The section's first paragraph of prose, if it has one. */
  summary?: string;
  groups: HighlightGroup[];
}

export interface HighlightOptions {
  /** Items shown per group; the rest are counted in `more`. */
  perGroup?: number;
  /** Longest item text, in characters, before it is cut with an ellipsis. */
  maxChars?: number;
}

const FENCE = /^\s{0,3}(```|~~~)/;
const SECTION = /^##\s+(?!#)\[?([^\]\s]+)\]?(.*)$/;
const DATE = /\b\d{4}-\d{2}-\d{2}\b/;
const GROUP = /^###\s+(?!#)(.+?)\s*#*\s*$/;
const ITEM = /^ {0,1}[-*+]\s+(.*)$/;
const NESTED_ITEM = /^\s{2,}[-*+]\s+/;
const LINK_DEFINITION = /^\s{0,3}\[[^\]]+\]:\s*\S/;

/** The `## ` sections in file order. Lines inside fenced code never start a section. */
export function parseSections(markdown: string): Section[] {
  const sections: Section[] = [];
  let inFence = false;
  for (const line of markdown.replace(/\r\n?/g, "\n").split("\n")) {
    if (FENCE.test(line)) inFence = !inFence;
    const heading = inFence ? null : SECTION.exec(line);
    if (heading) {
      // Any `## ` line starts a section, so an unusual heading never runs into the one above.
      const date = DATE.exec(heading[2]!)?.[0];
      sections.push({ name: heading[1]!, ...(date ? { date } : {}), lines: [] });
    } else if (!inFence) {
      sections.at(-1)?.lines.push(line);
    }
  }
  return sections;
}

/** `v1.2.3+build.4` → `1.2.3`: a changelog heading names a release without `v` or build metadata. */
export function releaseOf(version: string): string {
  return version.trim().replace(/^v/, "").replace(/\+.*$/, "");
}

/** The section for `version` (matched as `releaseOf`), or `Unreleased` (any case). */
export function findSection(sections: Section[], name: string): Section | undefined {
  const wanted = name.toLowerCase() === "unreleased" ? "unreleased" : releaseOf(name);
  return sections.find((s) => (wanted === "unreleased" ? s.name.toLowerCase() === wanted : releaseOf(s.name) === wanted));
}

/**
 * A section's top-level list items per `### ` heading, each joined into one line. Continuation
 * lines join their item; nested items and link definitions are left out.
 */
export function sectionItems(section: Section): ItemGroup[] {
  const groups: ItemGroup[] = [];
  let group: ItemGroup | undefined;
  let current: string[] | undefined;
  const finish = () => {
    if (current && group) group.items.push(current.join(" ").trim());
    current = undefined;
  };
  for (const line of section.lines) {
    const heading = GROUP.exec(line);
    if (heading) {
      finish();
      group = { kind: heading[1]!, items: [] };
      groups.push(group);
      continue;
    }
    const item = ITEM.exec(line);
    if (item) {
      finish();
      if (!group) {
        group = { kind: "", items: [] };
        groups.push(group);
      }
      current = [item[1]!.trim()];
    } else if (NESTED_ITEM.test(line) || LINK_DEFINITION.test(line) || line.trim() === "") {
      // A nested item or a blank line ends the joined text of the item (its detail is not a highlight).
      finish();
    } else if (current && /^\s/.test(line)) {
      current.push(line.trim());
    } else {
      finish();
    }
  }
  finish();
  return groups
    .map((g) => ({ kind: g.kind, items: g.items.filter((i) => !isPlaceholder(i)) }))
    .filter((g) => g.items.length > 0);
}

/** The first paragraph of prose before any list or `###` heading, joined into one line. */
export function sectionSummary(section: Section): string | undefined {
  const paragraph: string[] = [];
  for (const line of section.lines) {
    if (GROUP.test(line) || ITEM.test(line) || LINK_DEFINITION.test(line)) break;
    if (line.trim() === "") {
      if (paragraph.length) break;
      continue;
    }
    paragraph.push(line.trim());
  }
  const text = paragraph.join(" ");
  return text && !isPlaceholder(text) ? text : undefined;
}

/** Items that hold a place rather than a change: `Nothing yet.`, `TBD`, `_No changes._`, `-`. */
export function isPlaceholder(text: string): boolean {
  const bare = text.replace(/[_*`()[\].\s-]+/g, " ").trim().toLowerCase();
  return bare === "" || /^(nothing( yet)?|none( yet)?|n\/a|tbd|todo|no (notable )?changes( yet)?)$/.test(bare);
}

const ABBREVIATIONS = /(?:^|\s|\()(?:e\.g|i\.e|etc|vs|cf)$/i;

/** The first sentence of `text` (a `.` followed by a space, outside code spans), at most `maxChars`. */
export function firstSentence(text: string, maxChars = 160): string {
  let inCode = false;
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "`") inCode = !inCode;
    else if (!inCode && c === "." && (i + 1 === text.length || /\s/.test(text[i + 1]!)) && !ABBREVIATIONS.test(text.slice(0, i))) {
      end = i + 1;
      break;
    }
  }
  const sentence = text.slice(0, end).trim();
  if (sentence.length <= maxChars) return sentence;
  const cut = sentence.slice(0, maxChars - 1);
  const space = cut.lastIndexOf(" ");
  let short = (space > maxChars / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:(]+$/, "");
  // An odd number of backticks would leave a code span open: close it.
  if ((short.match(/`/g) ?? []).length % 2 === 1) short += "`";
  return `${short}…`;
}

/** A piece of an item's text: plain, or a `code` span. */
export interface Segment {
  text: string;
  code: boolean;
}

/**
 * The minimal inline Markdown the page renders: `code` spans become code segments; links keep
 * their text; `**`/`__` emphasis markers are dropped. Everything stays text.
 */
export function inlineSegments(text: string): Segment[] {
  const segments: Segment[] = [];
  const plain = (s: string) => {
    const cleaned = s.replace(/\[([^\]]+)\]\([^)\s]*\)/g, "$1").replace(/(\*\*|__)(?=\S)(.+?)(?<=\S)\1/g, "$2");
    if (cleaned) segments.push({ text: cleaned, code: false });
  };
  const code = /`([^`]+)`/g;
  let last = 0;
  for (let match = code.exec(text); match; match = code.exec(text)) {
    plain(text.slice(last, match.index));
    segments.push({ text: match[1]!, code: true });
    last = match.index + match[0].length;
  }
  plain(text.slice(last));
  return segments;
}

/** `[workspace.package] version` of the workspace Cargo.toml: the version the build is made from. */
export function workspaceVersion(cargoToml: string): string {
  let inTable = false;
  for (const line of cargoToml.replace(/\r\n?/g, "\n").split("\n")) {
    const table = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line);
    if (table) {
      inTable = table[1]!.trim() === "workspace.package";
      continue;
    }
    const version = inTable ? /^\s*version\s*=\s*"([^"]+)"/.exec(line) : null;
    if (version) return version[1]!;
  }
  throw new Error("Cargo.toml has no [workspace.package] version");
}

/**
 * What the page shows for a build of `version`: the `[Unreleased]` entries when there are any
 * (the build carries changes not yet released — a build between releases keeps the previous
 * version number), else the version's own section, else nothing.
 */
export function releaseNotes(changelog: string, version: string, options: HighlightOptions = {}): ReleaseNotes {
  const { perGroup = 4, maxChars = 160 } = options;
  const sections = parseSections(changelog);
  const unreleased = findSection(sections, "Unreleased");
  const own = findSection(sections, version);
  const [source, section] =
    unreleased && sectionItems(unreleased).length > 0
      ? (["unreleased", unreleased] as const)
      : own && (sectionItems(own).length > 0 || sectionSummary(own))
        ? (["release", own] as const)
        : (["none", undefined] as const);
  if (!section) return { source, version: releaseOf(version), groups: [] };
  const summary = sectionSummary(section);
  return {
    source,
    version: releaseOf(version),
    ...(section.date ? { date: section.date } : {}),
    ...(summary ? { summary: firstSentence(summary, maxChars) } : {}),
    groups: sectionItems(section).map((g) => ({
      kind: g.kind,
      items: g.items.slice(0, perGroup).map((i) => firstSentence(i, maxChars)),
      more: Math.max(0, g.items.length - perGroup),
    })),
  };
}
