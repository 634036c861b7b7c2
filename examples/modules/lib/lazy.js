// Loaded only by the "lazy" scenario, after it has printed a line.
console.log('lib/lazy.js ran');
module.exports = 'lazy';
