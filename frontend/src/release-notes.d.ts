// The release notes vite.config.ts embeds from ../CHANGELOG.md at build time.
declare module "virtual:release-notes" {
  const notes: import("./changelog").ReleaseNotes;
  export default notes;
}
