// request and respond within one app: the fake broker turns a REQUEST to the
// app itself into an INCOMING and the RESPONSE into a REPLY.
'use strict';
const {outcome, thrown} = require('../lib.js');
const bus = cashstory.bus;

function show(reply) {
    return `${JSON.stringify(reply.data)} from ${reply.sender.appId} on ${reply.topic} ` +
           `frozen ${Object.isFrozen(reply)} ${Object.isFrozen(reply.sender)}`;
}

(async () => {
    const self = await bus.ready;
    const me = self.appId;
    const removers = [
        bus.respond('math/add', ({data, sender}) => {
            console.log(`respond math/add: ${JSON.stringify(data)} from ${sender.appId}`);
            return data.a + data.b;
        }),
        bus.respond('math/*', async ({topic}) => {
            await new Promise(resolve => setTimeout(resolve, 20));
            return {topic, answer: 'later'};
        }),
        bus.respond('fail/throw', () => {
            throw new Error('the responder failed');
        }),
        bus.respond('fail/reject', async () => {
            const error = new Error('permission to compute refused');
            error.code = 'EPERM';
            throw error;
        }),
        bus.respond('fail/looks-like-error', () => ({error: 'only data'})),
        bus.respond('fail/undefined', () => undefined),
        bus.respond('fail/bigint', () => 10n),
    ];

    const add = await bus.request(me, 'math/add', {a: 2, b: 3});
    console.log(`request math/add: ${show(add)}`);
    console.log(`request math/slow: ${show(await bus.request(me, 'math/slow', null))}`);
    console.log(`request fail/throw: ${await outcome(bus.request(me, 'fail/throw', 1))}`);
    console.log(`request fail/reject: ${await outcome(bus.request(me, 'fail/reject', 1))}`);
    console.log(`request fail/looks-like-error: ` +
                `${show(await bus.request(me, 'fail/looks-like-error', 1))}`);
    console.log(`request fail/undefined: ${show(await bus.request(me, 'fail/undefined', 1))}`);
    console.log(`request fail/bigint: ${await outcome(bus.request(me, 'fail/bigint', 1))}`);
    console.log(`request without responder: ${await outcome(bus.request(me, 'nobody/x', 1))}`);

    const started = Date.now();
    const timedOut = await outcome(bus.request('com.example.other', 'slow/x', 1, {timeout: 200}));
    const elapsed = Date.now() - started;
    console.log(`request timeout: ${timedOut}`);
    console.log(`timeout took 200 to 1500 ms: ${elapsed >= 190 && elapsed < 1500}`);
    console.log(`request to a missing app: ` +
                `${await outcome(bus.request('com.example.missing', 'x/y', 1))}`);
    console.log(`timeout 0: ${thrown(() => bus.request(me, 'x/y', 1, {timeout: 0}))}`);
    console.log(`timeout text: ${thrown(() => bus.request(me, 'x/y', 1, {timeout: '5'}))}`);
    console.log(`options not an object: ${thrown(() => bus.request(me, 'x/y', 1, 5))}`);
    console.log(`respond pattern: ${thrown(() => bus.respond('math/**', () => 1))}`);

    for (const remove of removers)
        remove();
    console.log('request done');
})();
