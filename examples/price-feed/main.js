// Publishes a few quotes on "quotes/<pair>", then tries one action that the
// policy refuses (publishing an order), and exits.
const pairs = { EURUSD: 1.0842, GBPUSD: 1.2671, USDJPY: 151.32 };
const ticks = Number(process.argv[2] || 6);

function wait(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

(async () => {
    await cashstory.bus.ready;
    // Give subscribers that start at the same time a moment to subscribe.
    await wait(500);
    for (let i = 0; i < ticks; i++) {
        const pair = Object.keys(pairs)[i % 3];
        pairs[pair] = Number((pairs[pair] * (1 + (Math.random() - 0.5) / 1000)).toFixed(5));
        await cashstory.bus.publish(`quotes/${pair}`, { pair, bid: pairs[pair], seq: i });
        console.log(`published quotes/${pair} ${pairs[pair]}`);
        await wait(200);
    }
    try {
        await cashstory.bus.publish('orders/new', { pair: 'EURUSD', side: 'buy', amount: 1e6 });
        console.log('published orders/new');
    } catch (error) {
        console.log(`refused: ${error.message}`);
    }
})();
