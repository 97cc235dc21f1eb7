// dashboard_cdp.mjs - drives the collector's dashboard in headless Chromium over the
// DevTools protocol (--remote-debugging-pipe: no port, no npm package, no browser
// download; Debian's chromium). Run by dashboard.sh inside the collector's namespace.
//
// Steps: open the page; wait until the charts took 3 live updates (and, with
// STREAM_EXPECTED=1, until they came from /api/stream); tell the shell the page is up
// (READY_FILE); wait until the shell writes the settled /api/stats totals into
// SETTLED_FILE and until the header shows them; read the nodes table; pick the history
// filter protocol=udp and read the rows; reset it; save a screenshot. Prints what it saw
// as one JSON object on stdout; the shell makes the assertions. Exit 1 when a step
// timed out (the JSON then has "failure").
//
// Environment: DASHBOARD_URL, CHROMIUM (default /usr/bin/chromium), SCREENSHOT,
// READY_FILE, SETTLED_FILE, STREAM_EXPECTED (0/1), PROFILE_DIR, CHROMIUM_LOG.
import { spawn } from "node:child_process";
import fs from "node:fs";

const env = process.env;
const URL_ = env.DASHBOARD_URL;
const result = { console: [], exceptions: [], steps: [] };
const log = (m) => process.stderr.write(`[dashboard_cdp] ${m}\n`);

const chrome = spawn(env.CHROMIUM || "/usr/bin/chromium", [
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--no-default-browser-check", "--disable-extensions", "--mute-audio",
	"--hide-scrollbars", "--disable-dev-shm-usage", "--force-device-scale-factor=1",
	`--user-data-dir=${env.PROFILE_DIR}`, "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", env.CHROMIUM_LOG ? fs.openSync(env.CHROMIUM_LOG, "a") : "ignore", "pipe", "pipe"] });

// The test's EXIT trap stops us with SIGTERM: take the browser along.
for (const sig of ["SIGTERM", "SIGINT"])
	process.on(sig, () => { chrome.kill("SIGKILL"); process.exit(143); });

const toChrome = chrome.stdio[3], fromChrome = chrome.stdio[4];
let nextId = 1, buf = "";
const pending = new Map(), listeners = [];

fromChrome.on("data", (d) => {
	buf += d.toString("utf8");
	let i;
	while ((i = buf.indexOf("\0")) >= 0) {
		const msg = JSON.parse(buf.slice(0, i));
		buf = buf.slice(i + 1);
		if (msg.id && pending.has(msg.id)) {
			const p = pending.get(msg.id);
			pending.delete(msg.id);
			if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
			else p.resolve(msg.result);
		} else if (msg.method) {
			listeners.forEach((f) => f(msg));
		}
	}
});
chrome.on("exit", (code, sig) => {
	for (const p of pending.values()) p.reject(new Error(`chromium exited (${code ?? sig})`));
	pending.clear();
});

function send(method, params = {}, sessionId) {
	const id = nextId++;
	const msg = { id, method, params };
	if (sessionId) msg.sessionId = sessionId;
	toChrome.write(JSON.stringify(msg) + "\0");
	return new Promise((resolve, reject) => {
		pending.set(id, { resolve, reject, method });
		setTimeout(() => {
			if (pending.delete(id)) reject(new Error(`${method}: no answer in 30 s`));
		}, 30000);
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let session;
const page = (method, params) => send(method, params, session);

async function evaluate(expression) {
	const r = await page("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
	if (r.exceptionDetails)
		throw new Error(`evaluate ${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
	return r.result.value;
}

async function waitFor(desc, expression, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await evaluate(expression);
		if (last) return last;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${desc}`);
		await sleep(200);
	}
}

async function waitFile(path, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	while (!fs.existsSync(path)) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
		await sleep(200);
	}
	return fs.readFileSync(path, "utf8");
}

const dashState = "JSON.parse(JSON.stringify(window.ayaflowDashboard || null))";
const step = (s) => { result.steps.push(s); log(s); };

async function main() {
	const { targetId } = await send("Target.createTarget", { url: "about:blank" });
	({ sessionId: session } = await send("Target.attachToTarget", { targetId, flatten: true }));
	listeners.push((m) => {
		if (m.sessionId !== session) return;
		if (m.method === "Runtime.consoleAPICalled" && ["error", "assert", "warning"].includes(m.params.type)) {
			result.console.push({ level: m.params.type,
				text: m.params.args.map((a) => a.value ?? a.description ?? "").join(" ") });
		} else if (m.method === "Log.entryAdded" && ["error", "warning"].includes(m.params.entry.level)) {
			result.console.push({ level: m.params.entry.level, text: m.params.entry.text,
				url: m.params.entry.url ?? "" });
		} else if (m.method === "Runtime.exceptionThrown") {
			const d = m.params.exceptionDetails;
			result.exceptions.push(d.exception?.description ?? d.text);
		}
	});
	await page("Runtime.enable");
	await page("Log.enable");
	await page("Page.enable");
	await page("Emulation.setDeviceMetricsOverride", { width: 1600, height: 1000, deviceScaleFactor: 1, mobile: false });
	const loaded = new Promise((r) => listeners.push((m) => m.method === "Page.loadEventFired" && m.sessionId === session && r()));
	const nav = await page("Page.navigate", { url: URL_ });
	if (nav.errorText) throw new Error(`navigating to ${URL_}: ${nav.errorText}`);
	await loaded;
	step("page loaded");
	result.title = await evaluate("document.title");

	await waitFor("3 live chart updates", "(window.ayaflowDashboard||{}).chartPoints >= 3", 20000);
	if (env.STREAM_EXPECTED === "1")
		await waitFor("3 stream messages", "(window.ayaflowDashboard||{}).streamMessages >= 3", 20000);
	result.live_start = await evaluate(dashState);
	result.live_start.canvas_points = await evaluate("+document.getElementById('chart-pps').getAttribute('data-points')");
	step(`live: ${JSON.stringify(result.live_start)}`);
	fs.writeFileSync(env.READY_FILE, "ready\n");

	// The shell runs the workload, waits for the node to settle, then writes the totals.
	const expected = JSON.parse(await waitFile(env.SETTLED_FILE, 150000));
	step(`settled totals: ${JSON.stringify(expected)}`);
	const header = "({packets: document.getElementById('kpi-packets').getAttribute('data-value'), " +
		"bytes: document.getElementById('kpi-bytes').getAttribute('data-value'), " +
		"packets_text: document.getElementById('kpi-packets').textContent, " +
		"bytes_text: document.getElementById('kpi-bytes').textContent, " +
		"lost: document.getElementById('kpi-lost').getAttribute('data-value'), " +
		"nodes: document.getElementById('kpi-nodes').getAttribute('data-value'), " +
		"nodes_total: document.getElementById('kpi-nodes').getAttribute('data-total')})";
	try {
		await waitFor("header totals = /api/stats",
			`(() => { const h = ${header}; return h.packets === "${expected.total_packets}" && h.bytes === "${expected.total_bytes}"; })()`,
			15000);
	} catch (e) {
		step(e.message); // the shell reports the values that differ
	}
	result.header = await evaluate(header);
	result.nodes = await evaluate("Array.from(document.querySelectorAll('#nodes-body tr[data-node]')).map(r => ({" +
		"name: r.getAttribute('data-node'), connected: !!r.querySelector('.node-dot.up'), " +
		"cells: Array.from(r.cells).map(c => c.textContent)}))");
	result.top_rows = await evaluate("document.querySelectorAll('#top-body tr:not(.empty)').length");

	// The chart keeps taking live updates: sample twice, 3 s apart.
	const a = await evaluate(dashState);
	await sleep(3000);
	const b = await evaluate(dashState);
	result.live_end = b;
	result.live_end.canvas_points = await evaluate("+document.getElementById('chart-pps').getAttribute('data-points')");
	result.live_delta = { streamMessages: b.streamMessages - a.streamMessages,
		pollUpdates: b.pollUpdates - a.pollUpdates, chartPoints: b.chartPoints - a.chartPoints };
	step(`live over 3 s: ${JSON.stringify(result.live_delta)}, source ${b.source}`);

	// History filter: protocol = udp.
	await waitFor("history loaded", "document.getElementById('history-table').getAttribute('data-state') === 'loaded'", 15000);
	await evaluate("(() => { const s = document.getElementById('f-protocol'); s.value = 'udp'; " +
		"s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()");
	await waitFor("history filtered by protocol=udp",
		"(() => { const t = document.getElementById('history-table'); return t.getAttribute('data-state') === 'loaded' && /[?&]protocol=udp(&|$)/.test(t.getAttribute('data-query')); })()",
		15000);
	result.history_udp = await evaluate("(() => { const t = document.getElementById('history-table'); return {" +
		"query: t.getAttribute('data-query'), total: t.getAttribute('data-total'), " +
		"count: document.getElementById('history-count').textContent, " +
		"protocols: Array.from(document.querySelectorAll('#history-body tr[data-protocol]')).map(r => r.getAttribute('data-protocol'))}; })()");
	step(`history udp: ${result.history_udp.protocols.length} rows, total ${result.history_udp.total}`);

	// Back to every protocol for the screenshot.
	await evaluate("document.getElementById('f-reset').click(), true");
	await waitFor("history unfiltered",
		"(() => { const t = document.getElementById('history-table'); return t.getAttribute('data-state') === 'loaded' && !/protocol=/.test(t.getAttribute('data-query')); })()",
		15000);
	result.history_all_protocols = await evaluate("Array.from(new Set(Array.from(document.querySelectorAll('#history-body tr[data-protocol]')).map(r => r.getAttribute('data-protocol')))).sort()");
	await sleep(1200); // one more live update in the picture
	const metrics = await page("Page.getLayoutMetrics");
	const size = metrics.cssContentSize || metrics.contentSize;
	const shot = await page("Page.captureScreenshot", { format: "png", captureBeyondViewport: true,
		clip: { x: 0, y: 0, width: 1600, height: Math.ceil(Math.max(size.height, 1000)), scale: 1 } });
	fs.writeFileSync(env.SCREENSHOT, Buffer.from(shot.data, "base64"));
	step(`screenshot ${env.SCREENSHOT}`);
	result.final = await evaluate(dashState);
}

let rc = 0;
try {
	await main();
} catch (e) {
	result.failure = e.message;
	log(`FAILED: ${e.message}`);
	rc = 1;
}
process.stdout.write(JSON.stringify(result) + "\n");
try {
	await send("Browser.close");
} catch {
	chrome.kill("SIGKILL");
}
const exited = new Promise((r) => chrome.on("exit", r));
await Promise.race([exited, sleep(5000)]);
if (chrome.exitCode === null && chrome.signalCode === null) chrome.kill("SIGKILL");
process.exit(rc);
