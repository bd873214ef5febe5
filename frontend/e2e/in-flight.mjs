// Which requests a page had in flight at the same time, from the browser's own event order: a
// request counts as sent when the page issues it (Chromium's `requestWillBeSent`, before any
// connection is chosen or opened) and as answered when its response arrives. Two requests ran in
// parallel when each was sent before the other was answered. Unlike comparing network timings,
// this does not depend on how fast the servers answer or how long a new connection takes: a
// warmup answered in 20 ms while the second request waits for a TLS handshake still counts, and
// a page that waits for one answer before sending the other never does.

/** Starts recording `page`'s requests; returns `overlapped("POST /api/warmup", "GET /api/health")`. */
export function recordInFlight(page) {
  const events = [];
  const key = (request) => `${request.method()} ${new URL(request.url()).pathname}`;
  page.on("request", (request) => events.push(`sent ${key(request)}`));
  page.on("response", (response) => events.push(`answered ${key(response.request())}`));
  return {
    events,
    /** Whether the first `a` and the first `b` were each sent before the other was answered. */
    overlapped(a, b) {
      const at = (event) => events.indexOf(event);
      const [sentA, sentB, answeredA, answeredB] = [at(`sent ${a}`), at(`sent ${b}`), at(`answered ${a}`), at(`answered ${b}`)];
      return [sentA, sentB, answeredA, answeredB].every((i) => i >= 0) && sentA < answeredB && sentB < answeredA;
    },
  };
}
