// Sets process.exitCode and lets the event loop run dry.
process.exitCode = 7;
setTimeout(() => console.log('loop ran dry'), 1);
