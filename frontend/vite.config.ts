import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";
import { releaseNotes, workspaceVersion } from "./src/changelog.ts";

/**
 * `virtual:release-notes`: this build's changelog highlights (src/changelog.ts picks the
 * section), read from the repository's CHANGELOG.md and Cargo.toml when the bundle is built, so
 * the page needs no request and no Markdown renderer for them.
 */
function releaseNotesModule(): Plugin {
  const id = "virtual:release-notes";
  const resolved = `\0${id}`;
  const root = resolve(import.meta.dirname, "..");
  const changelog = resolve(root, "CHANGELOG.md");
  const cargoToml = resolve(root, "Cargo.toml");
  return {
    name: "release-notes",
    resolveId: (source) => (source === id ? resolved : undefined),
    load(loaded) {
      if (loaded !== resolved) return undefined;
      this.addWatchFile(changelog);
      this.addWatchFile(cargoToml);
      const notes = releaseNotes(readFileSync(changelog, "utf8"), workspaceVersion(readFileSync(cargoToml, "utf8")));
      return `export default ${JSON.stringify(notes)};`;
    },
  };
}

export default defineConfig({
  plugins: [releaseNotesModule()],
  build: {
    // Never inline assets as data: URLs, so the CSP needs no `data:` source.
    assetsInlineLimit: 0,
    target: "es2022",
  },
  server: {
    // `npm run dev` talks to `cargo run -p api` through this proxy: same origin, no CORS.
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/health": "http://127.0.0.1:8080",
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: "./test/global-setup.ts",
    testTimeout: 20000,
  },
});
