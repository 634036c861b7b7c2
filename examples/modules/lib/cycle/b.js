exports.done = false;
const a = require('./a');
// a.js is still loading: require() returns its partial exports.
exports.seenFromB = `a.done is ${a.done}`;
exports.done = true;
