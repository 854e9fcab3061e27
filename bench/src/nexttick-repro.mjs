// `node bench/src/nexttick-repro.mjs [idleSeconds]`: the Node 20 `process.nextTick` defect of
// bench/README.md ("Hot, and a Node 20 defect"), with no guard involved. Two Fastify apps serve
// one route; one also registers an empty encapsulated plugin. Both idle (V8's memory reducer runs
// ~8 s after start-up), then each is loaded for 3 s; each reports what one `process.nextTick`
// costs in it and its CPU per request. On Node 20.20 the app with the plugin ends up with a
// ~300+ ns nextTick and 2–5 µs more CPU per request; with `--no-memory-reducer` (passed on to both
// apps) their CPU per request is alike.
// Run it on an idle machine. A child process is `node nexttick-repro.mjs --serve <plain|plugin>`.
import { fork } from "node:child_process";
import autocannon from "autocannon";
import { tickCost } from "./lib/tick.mjs";

async function serve(shape) {
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  if (shape === "plugin") app.register(async () => {});
  app.get("/", async () => ({ ok: true }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  process.on("message", (m) => {
    if (m === "cpu") {
      const u = process.cpuUsage();
      process.send({ cpuUs: u.user + u.system });
    } else if (m === "tick") {
      tickCost().then((ns) => process.send({ tickNs: ns }));
    }
  });
  process.on("disconnect", () => process.exit(0));
  process.send({ port: app.server.address().port });
}

async function main() {
  const idleSec = Number(process.argv[2] ?? 20);
  const here = new URL(import.meta.url).pathname;
  const ask = (child, m) =>
    new Promise((resolve) => {
      child.once("message", resolve);
      child.send(m);
    });
  const apps = [];
  for (const shape of ["plain", "plugin"]) {
    const child = fork(here, ["--serve", shape], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const { port } = await new Promise((resolve) => child.once("message", resolve));
    apps.push({ shape, child, port });
  }
  try {
    process.stderr.write(`both apps up; idling ${String(idleSec)} s\n`);
    await new Promise((resolve) => setTimeout(resolve, idleSec * 1000));
    for (const a of apps) {
      const before = await ask(a.child, "cpu");
      const r = await autocannon({ url: `http://127.0.0.1:${String(a.port)}/`, connections: 10, duration: 3 });
      const after = await ask(a.child, "cpu");
      const { tickNs } = await ask(a.child, "tick");
      const n = r["2xx"];
      console.log(`${a.shape.padEnd(7)} nextTick ${tickNs.toFixed(0).padStart(4)} ns per call · server CPU ${((after.cpuUs - before.cpuUs) / n).toFixed(1)} µs per request (${String(n)} requests)`);
    }
  } finally {
    for (const a of apps) a.child.kill();
  }
}

if (process.argv[2] === "--serve") await serve(process.argv[3]);
else await main();
