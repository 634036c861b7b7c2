// Helpers shared by the scenarios.

// Ask the fake broker to run a command (tests/bus/fake_broker.py).
exports.control = (name, args = {}) => cashstory.bus.publish(`control/${name}`, args);

// "CODE: message" of an error, or "resolved" for a promise that did not fail.
exports.outcome = async promise => {
    try {
        const value = await promise;
        return `resolved ${JSON.stringify(value)}`;
    } catch (error) {
        return `${error.name} ${error.code}: ${error.message}`;
    }
};

// The same for a function that may throw synchronously.
exports.thrown = fn => {
    try {
        fn();
        return 'not thrown';
    } catch (error) {
        return `${error.name} ${error.code}: ${error.message}`;
    }
};

// A promise and its resolve function, for waiting on a handler.
exports.signal = () => {
    let resolve;
    const promise = new Promise(r => {
        resolve = r;
    });
    return {promise, resolve};
};
