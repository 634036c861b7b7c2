// The JavaScript contender of bench/bus: main.js of two signed apps that
// cashstoryd runs with the real app host, talking through cashstory.bus.
// bench/bus_native.c does the same in C; both follow the same protocol.
//
// Arguments (process.argv[2] and later):
//   pong
//       Subscribes to bench/flow and counts what arrives. Responds to requests
//       on bench/ready, bench/rtt (the data unchanged) and bench/drain (the
//       count since the last drain). It runs until the daemon stops it.
//   ping PONG_APP_ID MODE SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT WINDOW
//       MODE is rtt, flow or all; SIZES is a comma-separated list of bytes.
//       The data is a string whose JSON text is exactly SIZE bytes, so a
//       publish or a request carries SIZE bytes of payload; a reply carries
//       {"result": data}, 11 bytes more.
//       rtt: RTT_WARMUP untimed, then RTT_COUNT timed requests, one at a
//       time. The app host's only clock is Date.now(), whose resolution is
//       1 ms, so the app records the elapsed time of all timed requests
//       (rtt-SIZE.txt: "count=N elapsed_ms=E") and bench/bus takes the
//       per-message times from a trace of the app's writes to the broker.
//       flow: as in bus_native.c, with at most WINDOW publishes waiting and
//       a backoff after a publish that the broker dropped (EAGAIN)
//       (flow-SIZE.txt: "messages=N bytes=B elapsed_ns=E retransmitted=R",
//       E from Date.now(), so in whole ms).
//       Prints "phase WHAT SIZE warmup|timed|end" lines around each loop.
// Results go to the app's data folder.
'use strict';

const BACKOFF_MIN_MS = 1; // the timers' resolution
const BACKOFF_MAX_MS = 10;
const READY_ATTEMPTS = 1000; // 10 ms apart

const bus = cashstory.bus;
const [role, ...args] = process.argv.slice(2);

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function runPong() {
    let received = 0;
    bus.subscribe('bench/flow', () => {
        received++;
    });
    bus.respond('bench/rtt', (message) => message.data);
    bus.respond('bench/ready', () => true);
    bus.respond('bench/drain', () => {
        const count = received;
        received = 0;
        return count;
    });
}

function parseCount(text, name) {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > 1e8)
        throw new RangeError(`${name} must be an integer from 1 to 100000000, got '${text}'`);
    return value;
}

async function waitForPong(pong) {
    // Pong sent its SUBSCRIBE before its response to bench/ready, and the
    // broker handles one app's frames in order, so after that response the
    // subscription is active.
    for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
        try {
            await bus.request(pong, 'bench/ready', null, {timeout: 1000});
            return;
        } catch (error) {
            if (error.code !== 'ENOENT' && error.code !== 'ERR_BUS_NO_HANDLER')
                throw error;
        }
        await sleep(10);
    }
    throw new Error(`${pong} did not respond to bench/ready within 10 s`);
}

async function measureRtt(options, size, data) {
    console.log(`phase rtt ${size} warmup`);
    for (let i = 0; i < options.rttWarmup; i++)
        await bus.request(options.pong, 'bench/rtt', data);
    console.log(`phase rtt ${size} timed`);
    const start = Date.now();
    for (let i = 0; i < options.rttCount; i++) {
        const reply = await bus.request(options.pong, 'bench/rtt', data);
        if (reply.data.length !== data.length)
            throw new Error(`the reply has ${reply.data.length} characters instead of ${data.length}`);
    }
    const elapsed = Date.now() - start;
    console.log(`phase rtt ${size} end`);
    await cashstory.fs.writeFile(`rtt-${size}.txt`,
                                 `count=${options.rttCount} elapsed_ms=${elapsed}\n`);
}

// Publish count messages with at most options.window waiting, then drain.
// Returns the number of publishes sent again after an EAGAIN drop.
function publishAll(options, data, count) {
    return new Promise((resolve, reject) => {
        let unsent = count;
        let waiting = 0;
        let retransmitted = 0;
        let paused = false;
        let backoff = 0; // ms of the last sleep, 0 once a window passed without a drop
        let ackedSinceResume = 0;

        function settle() {
            waiting--;
            if (paused && waiting === 0) {
                backoff = backoff === 0 ? BACKOFF_MIN_MS : Math.min(backoff * 2, BACKOFF_MAX_MS);
                setTimeout(() => {
                    paused = false;
                    ackedSinceResume = 0;
                    pump();
                }, backoff);
            } else {
                pump();
            }
        }

        function pump() {
            if (unsent === 0 && waiting === 0) {
                resolve(retransmitted);
                return;
            }
            while (!paused && unsent > 0 && waiting < options.window) {
                unsent--;
                waiting++;
                bus.publish('bench/flow', data).then(() => {
                    if (++ackedSinceResume === options.window)
                        backoff = 0;
                    settle();
                }, (error) => {
                    if (error.code !== 'EAGAIN') {
                        reject(error);
                        return;
                    }
                    unsent++;
                    retransmitted++;
                    paused = true;
                    settle();
                });
            }
        }

        pump();
    });
}

async function publishAndDrain(options, data, count) {
    const retransmitted = await publishAll(options, data, count);
    const reply = await bus.request(options.pong, 'bench/drain', null);
    if (reply.data !== count)
        throw new Error(`pong received ${reply.data} messages instead of ${count}`);
    return retransmitted;
}

async function measureFlow(options, size, data) {
    console.log(`phase flow ${size} warmup`);
    await publishAndDrain(options, data, options.flowWarmup);
    console.log(`phase flow ${size} timed`);
    const start = Date.now();
    const retransmitted = await publishAndDrain(options, data, options.flowCount);
    const elapsed = Date.now() - start;
    console.log(`phase flow ${size} end`);
    await cashstory.fs.writeFile(
        `flow-${size}.txt`,
        `messages=${options.flowCount} bytes=${size * options.flowCount} ` +
            `elapsed_ns=${elapsed * 1e6} retransmitted=${retransmitted}\n`);
}

async function runPing() {
    if (args.length !== 8)
        throw new TypeError('usage: ping PONG_APP_ID rtt|flow|all SIZES RTT_WARMUP RTT_COUNT ' +
                            'FLOW_WARMUP FLOW_COUNT WINDOW');
    const [pong, mode, sizes, rttWarmup, rttCount, flowWarmup, flowCount, window] = args;
    if (!['rtt', 'flow', 'all'].includes(mode))
        throw new TypeError(`the mode must be rtt, flow or all, got '${mode}'`);
    const options = {
        pong,
        rttWarmup: parseCount(rttWarmup, 'RTT_WARMUP'),
        rttCount: parseCount(rttCount, 'RTT_COUNT'),
        flowWarmup: parseCount(flowWarmup, 'FLOW_WARMUP'),
        flowCount: parseCount(flowCount, 'FLOW_COUNT'),
        window: parseCount(window, 'WINDOW'),
    };
    await bus.ready;
    await waitForPong(pong);
    for (const text of sizes.split(',')) {
        const size = parseCount(text, 'a size');
        if (size < 2)
            throw new RangeError('a size must be at least 2 bytes (the quotes of a JSON string)');
        const data = 'x'.repeat(size - 2);
        if (mode !== 'flow')
            await measureRtt(options, size, data);
        if (mode !== 'rtt')
            await measureFlow(options, size, data);
    }
    cashstory.exit(0);
}

if (role === 'pong') {
    runPong();
} else if (role === 'ping') {
    runPing().catch((error) => {
        // JavaScriptCore's stack does not repeat the message, so print both.
        console.error(`bus_app: ${error}\n${error.stack}`);
        cashstory.exit(1);
    });
} else {
    console.error(`bus_app: the role must be ping or pong, got '${role}'`);
    cashstory.exit(2);
}
