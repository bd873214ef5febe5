import { defineConfig } from "vite";

export default defineConfig({
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
