// The release notes read from CHANGELOG.md: on the project's real changelog and Cargo.toml, and
// on the shapes a changelog takes between and at releases.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import notes from "virtual:release-notes";
import {
  findSection,
  firstSentence,
  inlineSegments,
  isPlaceholder,
  parseSections,
  releaseNotes,
  sectionItems,
  workspaceVersion,
} from "../src/changelog";

const root = resolve(import.meta.dirname, "..", "..");
const changelog = readFileSync(resolve(root, "CHANGELOG.md"), "utf8");
const cargoToml = readFileSync(resolve(root, "Cargo.toml"), "utf8");

const RELEASED = `# Changelog

## [Unreleased]

## [1.2.0] - 2026-12-01

The second release.

### Added
- \`GET /api/release\`: the release page's facts. It needs a session.
- Second item, which goes on
  over two lines.
  - a nested detail, not a highlight
- Third.
- Fourth.
- Fifth.

### Fixed
- A fix.

## [1.1.0] - 2026-11-01

### Added
- Older.

[Unreleased]: https://example.com/compare/v1.2.0...HEAD
[1.2.0]: https://example.com/releases/tag/v1.2.0
`;

describe("the project's CHANGELOG.md", () => {
  const version = workspaceVersion(cargoToml);
  const sections = parseSections(changelog);

  it("has an Unreleased section and one per released version, each with items", () => {
    expect(sections[0]?.name).toBe("Unreleased");
    for (const section of sections.slice(1)) {
      expect(section.date, section.name).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(sectionItems(section).length, section.name).toBeGreaterThan(0);
    }
  });

  it("gives this build the notes the build embeds", () => {
    const expected = releaseNotes(changelog, version);
    expect(notes).toEqual(expected);
    expect(expected.version).toBe(version);
    // Which section: Unreleased while it has entries, else this version's own.
    const unreleased = sectionItems(findSection(sections, "Unreleased")!);
    expect(expected.source).toBe(unreleased.length > 0 ? "unreleased" : "release");
    const kinds = (unreleased.length > 0 ? unreleased : sectionItems(findSection(sections, version)!)).map((g) => g.kind);
    expect(expected.groups.map((g) => g.kind)).toEqual(kinds);
    for (const group of expected.groups) {
      expect(group.items.length).toBeGreaterThan(0);
      expect(group.items.length).toBeLessThanOrEqual(4);
      for (const item of group.items) {
        expect(item.length).toBeLessThanOrEqual(160);
        expect(item).not.toMatch(/^\s|\n/);
      }
    }
  });

  it("has the version's own section, dated, with its summary", () => {
    const own = releaseNotes(changelog.replace(/## \[Unreleased\][\s\S]*?(?=\n## \[)/, "## [Unreleased]\n"), version);
    expect(own.source).toBe("release");
    expect(own.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(own.groups[0]?.kind).toBe("Added");
  });
});

describe("releaseNotes", () => {
  it("takes the version's section when Unreleased is empty, four items per group, the rest counted", () => {
    const result = releaseNotes(RELEASED, "1.2.0");
    expect(result).toEqual({
      source: "release",
      version: "1.2.0",
      date: "2026-12-01",
      summary: "The second release.",
      groups: [
        {
          kind: "Added",
          items: ["`GET /api/release`: the release page's facts.", "Second item, which goes on over two lines.", "Third.", "Fourth."],
          more: 1,
        },
        { kind: "Fixed", items: ["A fix."], more: 0 },
      ],
    });
  });

  it("matches a tag-like version without v or build metadata", () => {
    expect(releaseNotes(RELEASED, "v1.1.0+build.7")).toMatchObject({ source: "release", version: "1.1.0", groups: [{ kind: "Added", items: ["Older."] }] });
  });

  it("prefers Unreleased entries: a build between releases carries them", () => {
    const text = RELEASED.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Changed\n- Something new.\n");
    expect(releaseNotes(text, "1.2.0")).toEqual({ source: "unreleased", version: "1.2.0", groups: [{ kind: "Changed", items: ["Something new."], more: 0 }] });
  });

  it("skips an Unreleased section that only holds placeholders", () => {
    const text = RELEASED.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Added\n- Nothing yet.\n- _TBD_\n\n### Fixed\n-\n");
    expect(releaseNotes(text, "1.2.0").source).toBe("release");
  });

  it("says none for a version without a section and an empty Unreleased", () => {
    expect(releaseNotes(RELEASED, "9.9.9")).toEqual({ source: "none", version: "9.9.9", groups: [] });
    expect(releaseNotes("", "1.0.0")).toEqual({ source: "none", version: "1.0.0", groups: [] });
    expect(releaseNotes("# Changelog\n\nNo sections at all.\n", "1.0.0").source).toBe("none");
  });

  it("takes Unreleased for a dev build whose version has no section", () => {
    const text = "## [Unreleased]\n### Added\n- First feature.\n";
    expect(releaseNotes(text, "0.0.1")).toMatchObject({ source: "unreleased", groups: [{ kind: "Added", items: ["First feature."] }] });
  });

  it("reads CRLF files, ungrouped items and headings without brackets", () => {
    const text = "## Unreleased\r\n\r\n## 2.0.0 - 2027-01-02\r\n- One.\r\n- Two.\r\n";
    expect(releaseNotes(text, "2.0.0")).toEqual({ source: "release", version: "2.0.0", date: "2027-01-02", groups: [{ kind: "", items: ["One.", "Two."], more: 0 }] });
  });

  it("does not take a heading inside fenced code for a section", () => {
    const text = "## [1.0.0] - 2026-01-01\n### Added\n- Real.\n\n```md\n## [2.0.0]\n- fake\n```\n";
    expect(parseSections(text).map((s) => s.name)).toEqual(["1.0.0"]);
    expect(releaseNotes(text, "2.0.0").source).toBe("none");
  });

  it("keeps an unusual heading from running into the section above", () => {
    const text = "## [1.0.0] - 2026-01-01\n- Real.\n## Notes for maintainers\n- Not 1.0.0's.\n";
    expect(releaseNotes(text, "1.0.0").groups).toEqual([{ kind: "", items: ["Real."], more: 0 }]);
  });
});

describe("the pieces", () => {
  it("recognises placeholders and nothing else", () => {
    for (const p of ["Nothing yet.", "_No changes yet._", "(none)", "TBD", "N/A", "-", ""]) expect(isPlaceholder(p), p).toBe(true);
    for (const r of ["None of the logins were lost.", "Nothing is cached in the browser any more."]) expect(isPlaceholder(r), r).toBe(false);
  });

  it("cuts the first sentence outside code spans and abbreviations, then at a word", () => {
    expect(firstSentence("Runs `a.b. c` fast. Then more.")).toBe("Runs `a.b. c` fast.");
    expect(firstSentence("Uses defaults, e.g. 30 s. More.")).toBe("Uses defaults, e.g. 30 s.");
    expect(firstSentence("No full stop")).toBe("No full stop");
    expect(firstSentence("one two three four five six", 12)).toBe("one two…");
    expect(firstSentence("see `a very long code span here`", 14)).toBe("see `a very`…");
  });

  it("turns code spans into code segments and keeps link text only", () => {
    expect(inlineSegments("Set `PORT` and see [the docs](https://x.test/a) **now**")).toEqual([
      { text: "Set ", code: false },
      { text: "PORT", code: true },
      { text: " and see the docs now", code: false },
    ]);
    expect(inlineSegments("<img src=x onerror=alert(1)>")).toEqual([{ text: "<img src=x onerror=alert(1)>", code: false }]);
    expect(inlineSegments("an `unclosed span")).toEqual([{ text: "an `unclosed span", code: false }]);
  });

  it("reads the workspace version and fails without one", () => {
    expect(workspaceVersion('[package]\nversion = "9.0.0"\n[workspace.package]\nedition = "2021"\nversion = "1.2.3"\n')).toBe("1.2.3");
    expect(() => workspaceVersion('[package]\nversion = "9.0.0"\n')).toThrow(/no \[workspace.package\] version/);
    expect(workspaceVersion(cargoToml)).toMatch(/^\d+\.\d+\.\d+/);
  });
});
