// publish: ACK and ERROR, the JSON payload rules, argument checks, a large
// payload, and the app's own identity from WELCOME.
const {outcome, thrown} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    console.log(`self before WELCOME: ${bus.self}`);
    const self = await bus.ready;
    console.log(`ready: ${self.appId} ${self === bus.self} ` +
                `frozen ${Object.isFrozen(self)} ${Object.isFrozen(self.publisher)}`);

    console.log(`publish ok: ${await outcome(bus.publish('news/today', {n: 1, text: 'héllo'}))}`);
    console.log(`publish denied: ${await outcome(bus.publish('denied/secret', 1))}`);
    const denied = await bus.publish('denied/secret', 2).catch(error => error);
    console.log(`denied error fields: ${denied instanceof Error} ${denied.topic}`);

    await bus.publish('news/undefined', undefined);
    await bus.publish('news/function', () => 1);
    await bus.publish('news/fields', {keep: 1, drop: undefined, fn() {}, [Symbol('s')]: 2});
    await bus.publish('news/extra-arguments', 'data', {meta: 'com.example.forged'}, 'more');

    const cycle = {};
    cycle.self = cycle;
    console.log(`bigint: ${thrown(() => bus.publish('news/x', {n: 10n}))}`);
    console.log(`cycle: ${thrown(() => bus.publish('news/x', cycle))}`);
    console.log(`wildcard topic: ${thrown(() => bus.publish('news/*', 1))}`);
    console.log(`empty segment: ${thrown(() => bus.publish('news//x', 1))}`);
    console.log(`bad character: ${thrown(() => bus.publish('news/a b', 1))}`);
    console.log(`not a string: ${thrown(() => bus.publish(42, 1))}`);
    console.log(`too long topic: ${thrown(() => bus.publish('t'.repeat(257), 1))}`);
    console.log(`too large: ${thrown(() => bus.publish('news/x', 'x'.repeat(1024 * 1024)))}`);

    // Larger than the socket buffer, so the host writes it in parts.
    const big = 'y'.repeat(1024 * 1024 - 2);
    console.log(`largest payload: ${await outcome(bus.publish('news/big', big))}`);
    console.log('publish done');
})();
