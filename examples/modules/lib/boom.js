// Throws on purpose, so that the tests can check the stack trace.
function explode() {
    throw new Error('boom from lib/boom.js');
}

module.exports = { explode };
