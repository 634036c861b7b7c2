// Process information the app gets: its arguments and an empty environment.
console.log('argv:', JSON.stringify(process.argv));
console.log('env:', JSON.stringify(process.env));
console.log('globals:', typeof require, typeof module, typeof globalThis.cashstory, typeof globalThis.process);
