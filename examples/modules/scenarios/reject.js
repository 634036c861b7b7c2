// A promise rejection that nothing handles.
console.log('before the rejection');
Promise.reject(new Error('nobody handles this rejection'));
setTimeout(() => console.log('not reached'), 50);
