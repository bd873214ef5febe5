import type { TestProject } from "vitest/node";
import { startApi } from "./api-server.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    apiUrl: string;
    demoEmail: string;
    demoPassword: string;
  }
}

export default async function setup(project: TestProject) {
  const api = await startApi();
  project.provide("apiUrl", api.url);
  project.provide("demoEmail", api.demoEmail);
  project.provide("demoPassword", api.demoPassword);
  return () => api.stop();
}
