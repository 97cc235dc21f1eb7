/* app.js - the dashboard of ayaflow-collector (served from the binary, see web.h).
 *
 * Live data comes from the WebSocket /api/stream (one message a second: cluster totals,
 * rates and the nodes). While the stream is not available the page polls /api/stats
 * every second instead and reconnects the WebSocket with exponential backoff; once
 * stream messages flow again it stops the fast polling. /api/stats is still read every
 * 5 s for what the stream does not carry (loss ledger details, ingest, database size).
 * Top connections: /api/live?limit=20 every 2 s. History: /api/history on demand.
 *
 * Everything from the network is put into the page with textContent, never as HTML.
 * For tests, window.ayaflowDashboard tells where the live data came from:
 * {source: "stream"|"poll"|"none", streamMessages, pollUpdates, chartPoints, ...}. */
(function () {
	"use strict";

	var WINDOW_MS = 5 * 60 * 1000; /* the charts' time span */
	var STATS_FAST_MS = 1000; /* polling while the stream is down */
	var STATS_SLOW_MS = 5000; /* extras while the stream is up */
	var LIVE_MS = 2000;
	var STREAM_STALE_MS = 5000; /* no message for this long: back to polling */
	var BACKOFF_MIN_MS = 1000;
	var BACKOFF_MAX_MS = 30000;
	var HISTORY_LIMIT = 50;
	var RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, all: 0 };
	var PALETTE = ["#f0b429", "#7ee787", "#ff7b72", "#d2a8ff", "#79c0ff", "#ffa657",
		"#56d4dd", "#f778ba"];

	var dash = {
		source: "none", /* where the last chart point came from */
		streamMessages: 0, /* stream messages applied to the charts */
		pollUpdates: 0, /* /api/stats polls applied to the charts */
		chartPoints: 0,
		streamState: "connecting",
		streamReconnects: 0,
		lastUpdate: 0,
		errors: []
	};
	window.ayaflowDashboard = dash;

	/* ---------------------------------------------------------------- formatting */

	function $(id) { return document.getElementById(id); }

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function exact(n) {
		return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
	}

	/* 3 significant digits: 1.23, 12.3, 123 */
	function sig(v) {
		if (v >= 100)
			return v.toFixed(0);
		if (v >= 10)
			return v.toFixed(1);
		return v.toFixed(2);
	}

	/* counts: 950, 1.23k, 45.6M */
	function fmtCount(n) {
		if (n === null || n === undefined || isNaN(n))
			return "–";
		var units = ["", "k", "M", "G", "T", "P"], i = 0, v = Math.abs(n);
		if (v < 1000)
			return Number.isInteger(n) ? String(n) : (v < 10 ? n.toFixed(1) : n.toFixed(0));
		while (v >= 999.5 && i < units.length - 1) {
			v /= 1000;
			i++;
		}
		return (n < 0 ? "-" : "") + sig(v) + units[i];
	}

	/* bytes: 512 B, 1.50 KiB, 23.4 MiB */
	function fmtBytes(n) {
		if (n === null || n === undefined || isNaN(n))
			return "–";
		var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0, v = Math.abs(n);
		if (v < 1024)
			return (Number.isInteger(n) ? String(n) : n.toFixed(v < 10 ? 1 : 0)) + " B";
		while (v >= 1023.5 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return sig(v) + " " + units[i];
	}

	function fmtRate(n) { return fmtCount(n) + "/s"; }
	function fmtByteRate(n) { return fmtBytes(n) + "/s"; }

	function pad2(n) { return n < 10 ? "0" + n : String(n); }

	function fmtClock(ms) {
		var d = new Date(ms);
		return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
	}

	function fmtStamp(ms) {
		var d = new Date(ms), now = new Date();
		var day = d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate());
		if (d.toDateString() === now.toDateString())
			return fmtClock(ms);
		return day + " " + fmtClock(ms);
	}

	function fmtAge(ms) {
		if (!ms)
			return "never";
		var s = Math.max(0, (Date.now() - ms) / 1000);
		if (s < 1)
			return "now";
		if (s < 60)
			return Math.floor(s) + "s ago";
		if (s < 3600)
			return Math.floor(s / 60) + "m ago";
		if (s < 86400)
			return Math.floor(s / 3600) + "h ago";
		return Math.floor(s / 86400) + "d ago";
	}

	function fmtDuration(s) {
		if (s < 60)
			return s + "s";
		if (s < 3600)
			return Math.floor(s / 60) + "m " + (s % 60) + "s";
		if (s < 86400)
			return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
		return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
	}

	function endpoint(ip, port, proto, version) {
		var a = version === 6 || (ip && ip.indexOf(":") >= 0) ? "[" + ip + "]" : ip;
		if (proto === "icmp" || proto === "icmpv6")
			return ip;
		return a + ":" + port;
	}

	function lossSum(lost) {
		var s = 0;
		if (!lost)
			return 0;
		Object.keys(lost).forEach(function (k) { s += Number(lost[k]) || 0; });
		return s;
	}

	function lossTitle(lost) {
		if (!lost)
			return "";
		return Object.keys(lost).map(function (k) { return k + ": " + exact(lost[k]); })
			.join("\n");
	}

	/* A value cell: human text, exact number in data-value and the tooltip. */
	function numCell(value, fmt, extra) {
		var td = el("td", "num" + (extra ? " " + extra : ""), fmt(value));
		td.setAttribute("data-value", String(value));
		td.title = exact(value);
		if (!value)
			td.classList.add("dim");
		return td;
	}

	function setKpi(id, value, text) {
		var e = $(id);
		e.setAttribute("data-value", String(value));
		e.textContent = text;
		e.title = exact(value);
	}

	function noteError(what, err) {
		var msg = what + ": " + (err && err.message ? err.message : String(err));
		dash.errors.push(msg);
		if (dash.errors.length > 20)
			dash.errors.shift();
	}

	/* With --api-token-file the API answers 401: ask for the token once per tab. */
	var apiToken = sessionStorage.getItem("ayaflow_token") || "";
	var tokenAsked = false;

	/* Asks once per page load; the periodic refreshes pick the token up. */
	function askToken() {
		var t;

		if (tokenAsked)
			return false;
		tokenAsked = true;
		t = window.prompt("This collector needs an API token:", "");
		if (t) {
			apiToken = t.trim();
			sessionStorage.setItem("ayaflow_token", apiToken);
		}
		return !!t;
	}

	function getJSON(url, retried) {
		var headers = { Accept: "application/json" };

		if (apiToken)
			headers.Authorization = "Bearer " + apiToken;
		return fetch(url, { cache: "no-store", headers: headers })
			.then(function (r) {
				if (r.status === 401 && !retried && askToken())
					return getJSON(url, true);
				return r.text().then(function (text) {
					var body = null;
					try {
						body = text ? JSON.parse(text) : null;
					} catch (e) {
						body = null;
					}
					if (!r.ok) {
						var m = body && body.error && body.error.message ?
							body.error.message : "HTTP " + r.status;
						var err = new Error(m);
						err.status = r.status;
						throw err;
					}
					return body;
				});
			});
	}

	/* -------------------------------------------------------------------- charts */

	/* Node name -> colour, stable for the page's life. */
	var nodeColours = {};
	var nodeColourNext = 0;
	function nodeColour(name) {
		if (!nodeColours[name])
			nodeColours[name] = PALETTE[nodeColourNext++ % PALETTE.length];
		return nodeColours[name];
	}

	/* points: [{t, pps, bps, nodes: {name: {pps, bps}}}], oldest first. */
	var points = [];

	function niceStep(range, ticks) {
		var raw = range / ticks, mag = Math.pow(10, Math.floor(Math.log10(raw)));
		var f = raw / mag;
		return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
	}

	function makeChart(canvas, opts) {
		var ctx = canvas.getContext("2d");
		var hoverX = null;
		var chart = { canvas: canvas };

		function size() {
			var r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
			var w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
			if (canvas.width !== w || canvas.height !== h) {
				canvas.width = w;
				canvas.height = h;
			}
			return { w: r.width, h: r.height, dpr: dpr };
		}

		/* y scale: nice ticks in the unit the maximum needs (1000s or 1024s). */
		function scale(max) {
			var base = opts.bytes ? 1024 : 1000, unit = 1, i = 0;
			var names = opts.bytes ? ["B", "KiB", "MiB", "GiB", "TiB"] : ["", "k", "M", "G", "T"];
			while (max / unit >= base && i < names.length - 1) {
				unit *= base;
				i++;
			}
			var m = Math.max(max / unit, opts.bytes && i === 0 ? 8 : 1);
			var step = niceStep(m, 4), top = Math.ceil(m * 1.08 / step) * step;
			return { unit: unit, name: names[i], step: step, top: top };
		}

		chart.draw = function () {
			var s = size(), w = s.w, h = s.h;
			var L = 58, R = 10, T = 8, B = 20, pw = w - L - R, ph = h - T - B;
			ctx.setTransform(s.dpr, 0, 0, s.dpr, 0, 0);
			ctx.clearRect(0, 0, w, h);
			if (pw <= 10 || ph <= 10)
				return;
			var now = points.length ? Math.max(points[points.length - 1].t, Date.now() - 1500) : Date.now();
			var t0 = now - WINDOW_MS;
			var vis = points.filter(function (p) { return p.t >= t0 - 2000; });
			var names = {};
			var max = 0;
			vis.forEach(function (p) {
				max = Math.max(max, p[opts.key]);
				Object.keys(p.nodes).forEach(function (n) { names[n] = true; });
			});
			var nodeNames = Object.keys(names).sort();
			var sc = scale(max);
			var X = function (t) { return L + (t - t0) / WINDOW_MS * pw; };
			var Y = function (v) { return T + ph - (v / sc.unit) / sc.top * ph; };

			/* grid and y labels */
			ctx.font = "11px " + getComputedStyle(document.body).fontFamily;
			ctx.textBaseline = "middle";
			ctx.textAlign = "right";
			ctx.lineWidth = 1;
			for (var v = 0; v <= sc.top + 1e-9; v += sc.step) {
				var y = Math.round(T + ph - v / sc.top * ph) + 0.5;
				ctx.strokeStyle = v === 0 ? "#2a3645" : "#1c2530";
				ctx.beginPath();
				ctx.moveTo(L, y);
				ctx.lineTo(L + pw, y);
				ctx.stroke();
				ctx.fillStyle = "#7d8896";
				var label = (sc.step < 1 ? v.toFixed(1) : String(Math.round(v * 100) / 100));
				if (v === 0)
					label = "0";
				else if (sc.name)
					label += (opts.bytes ? " " : "") + sc.name;
				ctx.fillText(label, L - 6, y);
			}
			/* x: a line and a clock label every minute */
			ctx.textAlign = "center";
			ctx.textBaseline = "top";
			var minute = 60000;
			for (var tm = Math.ceil(t0 / minute) * minute; tm <= now; tm += minute) {
				var x = Math.round(X(tm)) + 0.5;
				ctx.strokeStyle = "#18202a";
				ctx.beginPath();
				ctx.moveTo(x, T);
				ctx.lineTo(x, T + ph);
				ctx.stroke();
				ctx.fillStyle = "#7d8896";
				var d = new Date(tm);
				ctx.fillText(pad2(d.getHours()) + ":" + pad2(d.getMinutes()), x, T + ph + 5);
			}

			ctx.save();
			ctx.beginPath();
			ctx.rect(L, T, pw, ph + 1);
			ctx.clip();
			/* segments: a gap of more than 3.5 s breaks the line */
			function trace(get) {
				var prev = null, started = false;
				ctx.beginPath();
				vis.forEach(function (p) {
					var v2 = get(p);
					if (v2 === undefined || v2 === null) {
						prev = null;
						return;
					}
					if (!prev || p.t - prev.t > 3500)
						ctx.moveTo(X(p.t), Y(v2));
					else
						ctx.lineTo(X(p.t), Y(v2));
					prev = p;
					started = true;
				});
				return started;
			}
			/* the cluster total: area + line */
			if (vis.length) {
				var grad = ctx.createLinearGradient(0, T, 0, T + ph);
				grad.addColorStop(0, opts.fill);
				grad.addColorStop(1, "rgba(0,0,0,0)");
				var run = [];
				var flush = function () {
					if (run.length < 1)
						return;
					ctx.beginPath();
					ctx.moveTo(X(run[0].t), Y(0));
					run.forEach(function (p) { ctx.lineTo(X(p.t), Y(p[opts.key])); });
					ctx.lineTo(X(run[run.length - 1].t), Y(0));
					ctx.closePath();
					ctx.fillStyle = grad;
					ctx.fill();
					run = [];
				};
				vis.forEach(function (p, i) {
					if (i > 0 && p.t - vis[i - 1].t > 3500)
						flush();
					run.push(p);
				});
				flush();
			}
			if (nodeNames.length > 1) {
				ctx.lineWidth = 1;
				nodeNames.forEach(function (n) {
					ctx.strokeStyle = nodeColour(n);
					ctx.globalAlpha = 0.85;
					if (trace(function (p) { return p.nodes[n] ? p.nodes[n][opts.key] : null; }))
						ctx.stroke();
				});
				ctx.globalAlpha = 1;
			}
			ctx.lineWidth = 1.6;
			ctx.lineJoin = "round";
			ctx.strokeStyle = opts.colour;
			if (trace(function (p) { return p[opts.key]; }))
				ctx.stroke();
			/* the latest point */
			if (vis.length) {
				var last = vis[vis.length - 1];
				ctx.fillStyle = opts.colour;
				ctx.beginPath();
				ctx.arc(X(last.t), Y(last[opts.key]), 2.5, 0, Math.PI * 2);
				ctx.fill();
			}
			ctx.restore();

			if (!vis.length) {
				ctx.fillStyle = "#56606c";
				ctx.textAlign = "center";
				ctx.textBaseline = "middle";
				ctx.fillText("waiting for data…", L + pw / 2, T + ph / 2);
			}

			/* hover: the nearest point's values */
			if (hoverX !== null && vis.length && hoverX >= L && hoverX <= L + pw) {
				var ht = t0 + (hoverX - L) / pw * WINDOW_MS, best = vis[0];
				vis.forEach(function (p) {
					if (Math.abs(p.t - ht) < Math.abs(best.t - ht))
						best = p;
				});
				var bx = Math.round(X(best.t)) + 0.5;
				ctx.strokeStyle = "#3a4a5e";
				ctx.lineWidth = 1;
				ctx.beginPath();
				ctx.moveTo(bx, T);
				ctx.lineTo(bx, T + ph);
				ctx.stroke();
				var lines = [[fmtClock(best.t), "#d0d7de"],
					["total  " + opts.fmt(best[opts.key]), opts.colour]];
				if (nodeNames.length > 1) {
					nodeNames.forEach(function (n) {
						if (best.nodes[n])
							lines.push([n + "  " + opts.fmt(best.nodes[n][opts.key]), nodeColour(n)]);
					});
				}
				ctx.font = "11.5px " + getComputedStyle(document.body).fontFamily;
				var bw = 0;
				lines.forEach(function (l) { bw = Math.max(bw, ctx.measureText(l[0]).width); });
				bw += 16;
				var bh = lines.length * 15 + 8;
				var bx0 = bx + 10 + bw > L + pw ? bx - 10 - bw : bx + 10;
				ctx.fillStyle = "rgba(13,17,23,.92)";
				ctx.strokeStyle = "#2a3645";
				ctx.fillRect(bx0, T + 4, bw, bh);
				ctx.strokeRect(bx0 + 0.5, T + 4.5, bw - 1, bh - 1);
				ctx.textAlign = "left";
				ctx.textBaseline = "top";
				lines.forEach(function (l, i) {
					ctx.fillStyle = l[1];
					ctx.fillText(l[0], bx0 + 8, T + 9 + i * 15);
				});
			}
			/* for tests: the live points drawn (not the ones from the history) */
			canvas.setAttribute("data-points",
				String(vis.filter(function (p) { return !p.past; }).length));
		};

		canvas.addEventListener("mousemove", function (e) {
			hoverX = e.clientX - canvas.getBoundingClientRect().left;
			chart.draw();
		});
		canvas.addEventListener("mouseleave", function () {
			hoverX = null;
			chart.draw();
		});
		return chart;
	}

	var charts = [];

	function drawCharts() {
		charts.forEach(function (c) { c.draw(); });
		var nodes = {};
		points.forEach(function (p) { Object.keys(p.nodes).forEach(function (n) { nodes[n] = true; }); });
		var names = Object.keys(nodes).sort();
		[["legend-pps", "#4fc3f7"], ["legend-bps", "#b392f0"]].forEach(function (lg) {
			var box = $(lg[0]);
			var key = names.join("\n");
			if (box.getAttribute("data-key") === key)
				return;
			box.setAttribute("data-key", key);
			box.textContent = "";
			if (names.length < 2)
				return;
			var add = function (label, colour) {
				var s = el("span");
				var sw = el("span", "sw");
				sw.style.background = colour;
				s.appendChild(sw);
				s.appendChild(document.createTextNode(label));
				box.appendChild(s);
			};
			add("total", lg[1]);
			names.forEach(function (n) { add(n, nodeColour(n)); });
		});
	}

	function pushPoint(t, pps, bps, nodes, source) {
		var p = { t: t, pps: pps || 0, bps: bps || 0, nodes: {} };
		(nodes || []).forEach(function (n) {
			if (n.connected === false)
				return;
			p.nodes[n.name] = { pps: n.packets_per_second || 0, bps: n.bytes_per_second || 0 };
		});
		/* one point per second at most; the later value wins */
		if (points.length && t - points[points.length - 1].t < 500)
			points[points.length - 1] = p;
		else
			points.push(p);
		var cut = t - WINDOW_MS - 5000;
		while (points.length && points[0].t < cut)
			points.shift();
		dash.source = source;
		dash.chartPoints++;
		if (source === "stream")
			dash.streamMessages++;
		else
			dash.pollUpdates++;
		dash.lastUpdate = Date.now();
		$("chart-pps-now").textContent = fmtRate(pps || 0);
		$("chart-bps-now").textContent = fmtByteRate(bps || 0);
		drawCharts();
	}

	/* The charts' past: the last 5 minutes of /api/history spread over seconds (each
	 * flow record's counts evenly over its window), so that a page opened on a running
	 * cluster does not start empty. Only when the history of the 5 minutes fits in a few
	 * pages; these points do not count as live updates. */
	function backfill() {
		var end = Date.now(), start = end - WINDOW_MS, rows = [];
		function page(offset, n) {
			return getJSON("/api/history?limit=1000&offset=" + offset + "&start_time=" +
				encodeURIComponent(String(start))).then(function (d) {
				rows = rows.concat(d.items || []);
				if (d.has_more && n < 5 && d.returned > 0)
					return page(offset + d.returned, n + 1);
				return !d.has_more;
			});
		}
		page(0, 1).then(function (complete) {
			if (!complete || !rows.length)
				return;
			var buckets = {}, first = Infinity;
			rows.forEach(function (r) {
				var s0 = Math.floor(r.timestamp / 1000), s1 = Math.ceil(r.window_end / 1000);
				var secs = Math.max(1, s1 - s0);
				first = Math.min(first, s0);
				for (var sec = s0; sec < s0 + secs; sec++) {
					var b = buckets[sec] || (buckets[sec] = { pps: 0, bps: 0, nodes: {} });
					var nb = b.nodes[r.node] || (b.nodes[r.node] = { pps: 0, bps: 0 });
					b.pps += r.packet_count / secs;
					b.bps += r.length / secs;
					nb.pps += r.packet_count / secs;
					nb.bps += r.length / secs;
				}
			});
			var liveFrom = points.length ? points[0].t - 1000 : Date.now();
			var past = [];
			for (var sec = Math.max(first, Math.floor(start / 1000)); sec * 1000 + 500 < liveFrom; sec++) {
				var b = buckets[sec] || { pps: 0, bps: 0, nodes: {} };
				past.push({ t: sec * 1000 + 500, pps: b.pps, bps: b.bps, nodes: b.nodes, past: true });
			}
			points = past.concat(points);
			dash.historyPoints = past.length;
			drawCharts();
		}).catch(function (e) {
			noteError("chart history", e);
		});
	}

	/* -------------------------------------------------------- header and nodes */

	var nodeState = {}; /* name -> merged fields of /api/stats nodes and the stream */
	var lastStats = null;

	function mergeNodes(list) {
		var seen = {};
		(list || []).forEach(function (n) {
			if (!n || typeof n.name !== "string")
				return;
			var s = nodeState[n.name] || { name: n.name };
			Object.keys(n).forEach(function (k) { s[k] = n[k]; });
			/* /api/stats says packets and bytes, /api/nodes and maybe the stream total_* */
			if (n.total_packets !== undefined)
				s.packets = n.total_packets;
			if (n.total_bytes !== undefined)
				s.bytes = n.total_bytes;
			nodeState[n.name] = s;
			seen[n.name] = true;
		});
		return seen;
	}

	function renderHeader(h) {
		setKpi("kpi-packets", h.total_packets, fmtCount(h.total_packets));
		setKpi("kpi-bytes", h.total_bytes, fmtBytes(h.total_bytes));
		setKpi("kpi-pps", h.packets_per_second, fmtRate(h.packets_per_second));
		setKpi("kpi-bps", h.bytes_per_second, fmtByteRate(h.bytes_per_second));
		setKpi("kpi-active", h.active_connections, fmtCount(h.active_connections));
		var kn = $("kpi-nodes");
		kn.setAttribute("data-value", String(h.nodes_connected));
		kn.setAttribute("data-total", String(h.nodes_total));
		kn.textContent = "";
		kn.appendChild(document.createTextNode(String(h.nodes_connected)));
		kn.appendChild(el("span", "of", " / " + h.nodes_total));
		kn.title = h.nodes_connected + " of " + h.nodes_total + " nodes connected";
		if (h.lost !== undefined) {
			setKpi("kpi-lost", h.lost, fmtCount(h.lost));
			$("kpi-loss-box").classList.toggle("warn", h.lost > 0);
			$("kpi-lost").classList.toggle("zero", h.lost === 0);
			if (h.lostTitle)
				$("kpi-lost").title = exact(h.lost) + " packets not in any flow\n" + h.lostTitle;
		}
	}

	function renderNodes() {
		var names = Object.keys(nodeState).sort();
		var body = $("nodes-body");
		body.textContent = "";
		if (!names.length) {
			var tr0 = el("tr", "empty");
			var td0 = el("td", null, "no node has reported yet");
			td0.colSpan = 8;
			tr0.appendChild(td0);
			body.appendChild(tr0);
		}
		var up = 0;
		names.forEach(function (name) {
			var n = nodeState[name];
			var tr = el("tr", n.connected ? "up" : "down");
			tr.setAttribute("data-node", name);
			var tdn = el("td", "l");
			var dot = el("span", "node-dot " + (n.connected ? "up" : "down"));
			dot.title = n.connected ? "connected" : "disconnected";
			tdn.appendChild(dot);
			tdn.appendChild(document.createTextNode(name));
			tr.appendChild(tdn);
			tr.appendChild(numCell(n.connected ? n.packets_per_second || 0 : 0, fmtCount));
			tr.appendChild(numCell(n.connected ? n.bytes_per_second || 0 : 0, fmtBytes));
			tr.appendChild(numCell(n.connected ? n.active_connections || 0 : 0, fmtCount));
			tr.appendChild(numCell(n.packets || 0, fmtCount));
			tr.appendChild(numCell(n.bytes || 0, fmtBytes));
			var lost = lossSum(n.lost_packets);
			var tdl = numCell(lost, fmtCount, lost > 0 ? "warn" : "");
			if (n.lost_packets)
				tdl.title = lossTitle(n.lost_packets);
			tr.appendChild(tdl);
			var tds = el("td", "num" + (n.connected ? "" : " warn"), fmtAge(n.last_seen));
			if (n.last_seen)
				tds.title = new Date(n.last_seen).toString();
			tr.appendChild(tds);
			body.appendChild(tr);
			if (n.connected)
				up++;
		});
		$("nodes-meta").textContent = up + " of " + names.length + " connected";
		updateNodeFilter(names);
	}

	function updateNodeFilter(names) {
		var sel = $("f-node"), cur = sel.value;
		var have = Array.prototype.slice.call(sel.options, 1).map(function (o) { return o.value; });
		if (cur && names.indexOf(cur) < 0)
			names = names.concat([cur]);
		if (have.join("\n") === names.join("\n"))
			return;
		while (sel.options.length > 1)
			sel.remove(1);
		names.forEach(function (n) {
			var o = el("option", null, n);
			o.value = n;
			sel.appendChild(o);
		});
		sel.value = cur;
	}

	/* Loss ledger by reason (cluster sum; the nodes' shares in the tooltip) and the
	 * collector's ingest counters. */
	function kvRow(body, label, value, fmt, cls, title) {
		var tr = el("tr");
		tr.appendChild(el("td", null, label));
		var td = numCell(value, fmt, cls);
		if (title)
			td.title = title;
		tr.appendChild(td);
		body.appendChild(tr);
	}

	function renderLedger(st) {
		var body = $("ledger-body"), lost = st.lost_packets || {};
		body.textContent = "";
		Object.keys(lost).forEach(function (reason) {
			var per = (st.nodes || []).filter(function (n) {
				return n.lost_packets && n.lost_packets[reason];
			}).map(function (n) { return n.name + ": " + exact(n.lost_packets[reason]); });
			kvRow(body, reason.replace(/_/g, " "), lost[reason], exact,
				lost[reason] > 0 ? "warn" : "", exact(lost[reason]) + (per.length ? "\n" + per.join("\n") : ""));
		});
		var i = st.ingest;
		body = $("ingest-body");
		body.textContent = "";
		if (!i)
			return;
		kvRow(body, "batches stored", i.batches_stored, exact);
		kvRow(body, "duplicates", i.batches_duplicate, exact);
		kvRow(body, "rejected", i.batches_rejected, exact, i.batches_rejected > 0 ? "warn" : "",
			Object.keys(i.rejected_by_reason || {}).filter(function (k) {
				return i.rejected_by_reason[k];
			}).map(function (k) { return k + ": " + exact(i.rejected_by_reason[k]); }).join("\n"));
		kvRow(body, "records stored", i.records_stored, fmtCount);
		kvRow(body, "queue", i.queue_depth, function (v) { return v + " / " + i.queue_capacity; },
			i.queue_depth > i.queue_capacity / 2 ? "warn" : "");
		kvRow(body, "database", st.db_bytes || 0, fmtBytes);
	}

	function renderFooter(st) {
		$("foot-uptime").textContent = "collector up " + fmtDuration(st.uptime_seconds || 0);
		$("foot-db").textContent = "db " + fmtBytes(st.db_bytes || 0);
		if (st.ingest) {
			var i = st.ingest;
			$("foot-ingest").textContent = "batches " + exact(i.batches_stored) + " stored · " +
				exact(i.batches_duplicate) + " dup · " + exact(i.batches_rejected) +
				" rejected · queue " + i.queue_depth + "/" + i.queue_capacity;
		}
		if (st.live)
			$("foot-live").textContent = "live view " + exact(st.live.connections) + " conns" +
				(st.live.connections_over ? " (" + exact(st.live.connections_over) + " over capacity)" : "");
	}

	/* Cluster totals as the header shows them, from /api/stats or a stream message. */
	function headerFrom(m, lostFallback) {
		var nodes = m.nodes || [];
		var connected = m.nodes_connected;
		if (connected === undefined)
			connected = nodes.filter(function (n) { return n.connected; }).length;
		var h = {
			total_packets: m.total_packets || 0,
			total_bytes: m.total_bytes || 0,
			packets_per_second: m.packets_per_second || 0,
			bytes_per_second: m.bytes_per_second || 0,
			active_connections: m.active_connections || 0,
			nodes_connected: connected,
			nodes_total: nodes.length
		};
		var lost = m.lost_packets || lostFallback;
		if (lost) {
			h.lost = lossSum(lost);
			h.lostTitle = lossTitle(lost);
		}
		return h;
	}

	/* ------------------------------------------------------------ live sources */

	var ws = null;
	var backoff = BACKOFF_MIN_MS;
	var lastStreamAt = 0;
	var statsTimer = null;

	function streamLive() {
		return ws && ws.readyState === 1 && Date.now() - lastStreamAt < STREAM_STALE_MS;
	}

	function setStatus() {
		var st = $("status"), src;
		if (streamLive())
			src = "stream";
		else if (dash.lastUpdate && Date.now() - dash.lastUpdate < 5000)
			src = "poll";
		else
			src = dash.lastUpdate ? "offline" : "none";
		st.setAttribute("data-source", src);
		$("status-text").textContent = src === "stream" ? "live · stream" :
			src === "poll" ? "live · polling" : src === "offline" ? "collector unreachable" :
			"connecting";
		$("status-age").textContent = dash.lastUpdate ?
			((Date.now() - dash.lastUpdate) / 1000).toFixed(1) + "s" : "";
		st.title = "stream: " + dash.streamState + (dash.streamReconnects ?
			" (" + dash.streamReconnects + " reconnects)" : "");
	}

	function onStreamMessage(ev) {
		var m;
		try {
			m = JSON.parse(ev.data);
		} catch (e) {
			noteError("stream message", e);
			return;
		}
		if (!m || typeof m !== "object" || m.total_packets === undefined)
			return;
		lastStreamAt = Date.now();
		dash.streamState = "open";
		var seen = mergeNodes(m.nodes);
		Object.keys(nodeState).forEach(function (n) {
			if (!seen[n] && m.nodes)
				delete nodeState[n];
		});
		renderHeader(headerFrom(m, lastStats && lastStats.lost_packets));
		renderNodes();
		pushPoint(Number(m.timestamp) || Date.now(), m.packets_per_second, m.bytes_per_second,
			m.nodes, "stream");
		setStatus();
	}

	function connectStream() {
		var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
			"/api/stream" +
			(apiToken ? "?ayaflow_token=" + encodeURIComponent(apiToken) : "");
		dash.streamState = "connecting";
		try {
			ws = new WebSocket(url);
		} catch (e) {
			noteError("stream", e);
			scheduleReconnect();
			return;
		}
		ws.onopen = function () {
			backoff = BACKOFF_MIN_MS;
			dash.streamState = "open";
		};
		ws.onmessage = onStreamMessage;
		ws.onclose = function () {
			dash.streamState = "closed";
			ws = null;
			scheduleReconnect();
			kickStats(); /* poll at once rather than wait for the slow timer */
		};
		ws.onerror = function () { /* onclose follows */ };
	}

	function scheduleReconnect() {
		var wait = backoff * (0.8 + Math.random() * 0.4);
		backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
		dash.streamReconnects++;
		dash.streamState = "retry in " + (wait / 1000).toFixed(1) + "s";
		setTimeout(connectStream, wait);
	}

	function applyStats(st, chart) {
		lastStats = st;
		var seen = mergeNodes(st.nodes);
		Object.keys(nodeState).forEach(function (n) {
			if (!seen[n])
				delete nodeState[n];
		});
		if (chart) {
			renderHeader(headerFrom(st));
			pushPoint(Date.now(), st.packets_per_second, st.bytes_per_second, st.nodes, "poll");
		} else {
			/* the stream owns the totals; only the loss ledger comes from here */
			var lost = lossSum(st.lost_packets);
			setKpi("kpi-lost", lost, fmtCount(lost));
			$("kpi-lost").title = exact(lost) + " packets not in any flow\n" + lossTitle(st.lost_packets);
			$("kpi-loss-box").classList.toggle("warn", lost > 0);
			$("kpi-lost").classList.toggle("zero", lost === 0);
		}
		renderNodes();
		renderLedger(st);
		renderFooter(st);
	}

	function pollStats() {
		statsTimer = null;
		var fast = !streamLive();
		getJSON("/api/stats").then(function (st) {
			/* the stream may have come back while the request was on its way */
			applyStats(st, !streamLive());
		}).catch(function (e) {
			noteError("/api/stats", e);
		}).then(function () {
			setStatus();
			if (!statsTimer)
				statsTimer = setTimeout(pollStats, fast && !streamLive() ? STATS_FAST_MS : STATS_SLOW_MS);
		});
	}

	function kickStats() {
		if (statsTimer) {
			clearTimeout(statsTimer);
			statsTimer = null;
			pollStats();
		}
	}

	/* ---------------------------------------------------------- top connections */

	function renderTop(data) {
		var body = $("top-body"), conns = (data && data.connections) || [];
		body.textContent = "";
		if (!conns.length) {
			var tr0 = el("tr", "empty");
			var td0 = el("td", null, "no active connection");
			td0.colSpan = 7;
			tr0.appendChild(td0);
			body.appendChild(tr0);
			return;
		}
		var max = 0;
		conns.forEach(function (c) { max = Math.max(max, c.stats.packets_count); });
		conns.forEach(function (c) {
			var tr = el("tr");
			var st = c.stats || {};
			var td = el("td", "mono");
			td.appendChild(document.createTextNode(endpoint(c.src_ip, c.src_port, c.protocol, c.ip_version)));
			td.appendChild(el("span", "arrow", "→"));
			td.appendChild(document.createTextNode(endpoint(c.dst_ip, c.dst_port, c.protocol, c.ip_version)));
			if (c.domain)
				td.appendChild(el("span", "conn-domain", c.domain));
			td.title = c.connection + (c.tcp_flags ? "\nflags " + c.tcp_flags : "") +
				(c.interface ? "\ninterface " + c.interface : "") +
				"\nfirst seen " + new Date(c.first_seen).toString();
			tr.appendChild(td);
			var tdp = el("td");
			tdp.appendChild(el("span", "proto " + c.protocol, c.protocol));
			tr.appendChild(tdp);
			tr.appendChild(el("td", null, c.node || ""));
			var tdc = numCell(st.packets_count, fmtCount, "bar");
			tdc.textContent = "";
			var fill = el("span", "fill");
			fill.style.width = (max ? Math.max(1, 100 * st.packets_count / max) : 0) + "%";
			tdc.appendChild(fill);
			tdc.appendChild(el("span", "v", fmtCount(st.packets_count)));
			tr.appendChild(tdc);
			tr.appendChild(numCell(st.bytes_sent, fmtBytes));
			tr.appendChild(numCell(st.bytes_received, fmtBytes));
			var tda = el("td", "num dim", fmtAge(c.last_seen));
			tr.appendChild(tda);
			body.appendChild(tr);
		});
	}

	function pollLive() {
		getJSON("/api/live?limit=20").then(function (d) {
			renderTop(d);
			$("top-meta").textContent = "by packets · every 2 s · " + fmtClock(Date.now());
		}).catch(function (e) {
			noteError("/api/live", e);
			$("top-meta").textContent = "unavailable: " + e.message;
		}).then(function () {
			setTimeout(pollLive, LIVE_MS);
		});
	}

	/* ------------------------------------------------------------------ history */

	var hist = { range: "1h", offset: 0, seq: 0, filters: {} };

	function readFilters() {
		var f = {
			node: $("f-node").value,
			ip: $("f-ip").value.trim(),
			port: $("f-port").value.trim(),
			protocol: $("f-protocol").value,
			domain: $("f-domain").value.trim()
		};
		var bad = "";
		$("f-port").classList.remove("bad");
		$("f-ip").classList.remove("bad");
		if (f.port && !(/^\d{1,5}$/.test(f.port) && Number(f.port) <= 65535)) {
			bad = "port must be a number 0–65535";
			$("f-port").classList.add("bad");
		}
		if (f.ip && !/^[0-9a-fA-F.:]+$/.test(f.ip)) {
			bad = "ip must be an IPv4 or IPv6 address";
			$("f-ip").classList.add("bad");
		}
		return bad ? { error: bad } : f;
	}

	function historyQuery() {
		var q = ["limit=" + HISTORY_LIMIT, "offset=" + hist.offset];
		var span = RANGES[hist.range];
		if (span) {
			hist.start = Date.now() - span;
			q.push("start_time=" + encodeURIComponent(String(hist.start)));
		} else {
			hist.start = 0;
		}
		Object.keys(hist.filters).forEach(function (k) {
			if (hist.filters[k])
				q.push(k + "=" + encodeURIComponent(hist.filters[k]));
		});
		return "/api/history?" + q.join("&");
	}

	function renderHistory(d) {
		var body = $("history-body"), items = d.items || [];
		body.textContent = "";
		if (!items.length) {
			var tr0 = el("tr", "empty");
			var td0 = el("td", null, "no flow records match");
			td0.colSpan = 11;
			tr0.appendChild(td0);
			body.appendChild(tr0);
		}
		items.forEach(function (r) {
			var tr = el("tr");
			tr.setAttribute("data-protocol", r.protocol);
			var tdt = el("td", "mono", fmtStamp(r.window_end));
			tdt.title = "window " + new Date(r.timestamp).toISOString() + " – " +
				new Date(r.window_end).toISOString();
			tr.appendChild(tdt);
			tr.appendChild(el("td", null, r.node));
			var tdp = el("td");
			tdp.appendChild(el("span", "proto " + r.protocol, r.protocol));
			tr.appendChild(tdp);
			tr.appendChild(el("td", "mono", endpoint(r.src_ip, r.src_port, r.protocol, r.ip_version)));
			tr.appendChild(el("td", "mono", endpoint(r.dst_ip, r.dst_port, r.protocol, r.ip_version)));
			tr.appendChild(numCell(r.packets_sent, fmtCount));
			tr.appendChild(numCell(r.packets_received, fmtCount));
			tr.appendChild(numCell(r.bytes_sent, fmtBytes));
			tr.appendChild(numCell(r.bytes_received, fmtBytes));
			tr.appendChild(el("td", "mono dim", r.tcp_flags || ""));
			tr.appendChild(el("td", null, r.domain || ""));
			body.appendChild(tr);
		});
		var from = d.returned ? d.offset + 1 : 0;
		$("history-count").textContent = exact(from) + "–" + exact(d.offset + d.returned) +
			" of " + exact(d.total) + (d.total_capped ? "+" : "");
		$("page-prev").disabled = d.offset === 0;
		$("page-next").disabled = !d.has_more;
		$("history-range-text").textContent = (hist.start ? "since " + fmtStamp(hist.start) :
			"all time") + " · newest first · loaded " + fmtClock(Date.now());
	}

	function loadHistory() {
		var seq = ++hist.seq, url = historyQuery(), table = $("history-table");
		table.setAttribute("data-state", "loading");
		table.setAttribute("data-query", url);
		$("history-error").textContent = "";
		getJSON(url).then(function (d) {
			if (seq !== hist.seq)
				return;
			renderHistory(d);
			table.setAttribute("data-total", String(d.total));
			table.setAttribute("data-state", "loaded");
		}).catch(function (e) {
			if (seq !== hist.seq)
				return;
			noteError("/api/history", e);
			$("history-error").textContent = e.message;
			table.setAttribute("data-state", "error");
		});
	}

	function applyFilters(resetOffset) {
		var f = readFilters();
		if (f.error) {
			$("history-error").textContent = f.error;
			return;
		}
		hist.filters = f;
		if (resetOffset)
			hist.offset = 0;
		loadHistory();
	}

	function setupHistory() {
		$("history-filters").addEventListener("submit", function (e) {
			e.preventDefault();
			applyFilters(true);
		});
		$("f-node").addEventListener("change", function () { applyFilters(true); });
		$("f-protocol").addEventListener("change", function () { applyFilters(true); });
		Array.prototype.forEach.call(document.querySelectorAll("#history-range button"), function (b) {
			b.addEventListener("click", function () {
				hist.range = b.getAttribute("data-range");
				Array.prototype.forEach.call(document.querySelectorAll("#history-range button"),
					function (o) { o.classList.toggle("on", o === b); });
				applyFilters(true);
			});
		});
		$("f-reset").addEventListener("click", function () {
			$("f-node").value = "";
			$("f-ip").value = "";
			$("f-port").value = "";
			$("f-protocol").value = "";
			$("f-domain").value = "";
			applyFilters(true);
		});
		$("page-prev").addEventListener("click", function () {
			hist.offset = Math.max(0, hist.offset - HISTORY_LIMIT);
			loadHistory();
		});
		$("page-next").addEventListener("click", function () {
			hist.offset += HISTORY_LIMIT;
			loadHistory();
		});
		applyFilters(true);
	}

	/* --------------------------------------------------------------------- start */

	function start() {
		charts.push(makeChart($("chart-pps"), { key: "pps", colour: "#4fc3f7",
			fill: "rgba(79,195,247,.22)", fmt: fmtRate }));
		charts.push(makeChart($("chart-bps"), { key: "bps", colour: "#b392f0", bytes: true,
			fill: "rgba(179,146,240,.22)", fmt: fmtByteRate }));
		window.addEventListener("resize", drawCharts);
		drawCharts();
		backfill();
		setupHistory();
		connectStream();
		pollStats();
		pollLive();
		/* the clock: status age, and the charts scroll even without new data */
		setInterval(function () {
			setStatus();
			if (!streamLive() && ws && ws.readyState === 1 && lastStreamAt)
				dash.streamState = "open, silent";
			drawCharts();
		}, 1000);
	}

	if (document.readyState === "loading")
		document.addEventListener("DOMContentLoaded", start);
	else
		start();
})();
