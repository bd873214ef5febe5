import type { TestProject } from "vitest/node";
import { startApi } from "./api-server.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    apiUrl: string;
    demoEmail: string;
    demoPassword: string;
    /** An API whose database refuses connections: warmup and readiness fail for real. */
    databaseDownApiUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const api = await startApi();
  const databaseDown = await startApi(
    // Nothing listens on port 9; short timeouts keep the failing calls quick.
    { DATABASE_URL: "postgres://release-flow@127.0.0.1:9/none", DATABASE_ACQUIRE_TIMEOUT_MS: "300", HEALTH_DB_TIMEOUT_MS: "300" },
    { demoLogin: false },
  ).catch(async (error: unknown) => {
    await api.stop();
    throw error;
  });
  project.provide("apiUrl", api.url);
  project.provide("demoEmail", api.demoEmail);
  project.provide("demoPassword", api.demoPassword);
  project.provide("databaseDownApiUrl", databaseDown.url);
  return async () => {
    await Promise.all([api.stop(), databaseDown.stop()]);
  };
}
