// Publishes without waiting for the answer, then ends: the app must exit
// once the ACK has arrived, not stay on the bus.
cashstory.bus.publish('news/last', 'bye');
console.log('published and finished');
