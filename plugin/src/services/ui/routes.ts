// Every API route of the `ui` server: one factory per view (types.ts UiRoutes).
// The service-map and traceloop views add theirs here: mapRoutes (map-api.ts) and
// traceloopRoutes (traceloop-api.ts).

import { eventsRoutes } from './events-api.js';
import { mapRoutes } from './map-api.js';
import { traceloopRoutes } from './traceloop-api.js';
import type { UiContext, UiRoute, UiRoutes } from './types.js';

export const ROUTE_FACTORIES: readonly UiRoutes[] = [eventsRoutes, mapRoutes, traceloopRoutes];

/** The routes of every view; a path served twice is a programming error. */
export function allRoutes(ctx: UiContext): UiRoute[] {
  const routes = ROUTE_FACTORIES.flatMap((f) => f(ctx));
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    if (!r.path.startsWith('/api/')) throw new Error(`ui route ${key} is not under /api/`);
    if (seen.has(key)) throw new Error(`ui route ${key} is served twice`);
    seen.add(key);
  }
  return routes;
}
