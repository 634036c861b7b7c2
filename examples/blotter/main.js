// Receives quotes, accepts only those whose verified sender is the expected
// app from the expected publisher, and writes a summary to its data folder.
// Arguments: the number of quotes to wait for, and the publisher key id to
// accept (any publisher when absent).
const expected = Number(process.argv[2] || 6);
const trustedKey = process.argv[3];
const summary = { accepted: 0, rejected: 0, last: {} };

function describe(sender) {
    const publisher = sender.publisher ? sender.publisher.keyId.slice(0, 16) : 'none';
    const origin = sender.origin ? sender.origin.url : 'none';
    return `${sender.appId} ${sender.version} (publisher key ${publisher}..., origin ${origin})`;
}

async function finish() {
    await cashstory.fs.writeFile('summary.json', JSON.stringify(summary, null, 2));
    console.log(`summary: ${summary.accepted} accepted, ${summary.rejected} rejected; ` +
                'written to summary.json in the data folder');
    cashstory.exit(0);
}

const timeout = setTimeout(finish, 15000);

cashstory.bus.subscribe('quotes/*', (message) => {
    const { sender, data, topic } = message;
    const genuine = sender.appId === 'com.example.pricefeed' && sender.verified &&
        (!trustedKey || (sender.publisher && sender.publisher.keyId === trustedKey));
    if (!genuine) {
        summary.rejected++;
        console.log(`rejected ${topic} from ${describe(sender)}`);
        return;
    }
    summary.accepted++;
    summary.last[data.pair] = data.bid;
    console.log(`${topic} ${data.bid} from ${describe(sender)}`);
    if (summary.accepted >= expected) {
        clearTimeout(timeout);
        finish();
    }
});
