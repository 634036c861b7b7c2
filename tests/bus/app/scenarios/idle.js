// Never uses the bus: the app must exit at once, without waiting for WELCOME.
console.log('idle app finished');
