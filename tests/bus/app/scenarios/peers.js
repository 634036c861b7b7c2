// peers() and PEER_EVENT.
'use strict';
const {control, outcome} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    await bus.ready;
    const peers = await bus.peers();
    console.log(`peers: ${peers.map(peer => peer.appId).join(',')} ` +
                `frozen ${Object.isFrozen(peers)} ${Object.isFrozen(peers[1])} ` +
                `${Object.isFrozen(peers[1].publisher)}`);

    let events = 0;
    bus.onpeer = (event, identity) => {
        console.log(`onpeer: ${event} ${identity.appId} frozen ${Object.isFrozen(identity)}`);
        // The handler keeps the loop alive until it is removed.
        if (++events === 2)
            bus.onpeer = null;
    };
    await control('peer-event', {event: 'joined'});
    await control('peer-event', {event: 'left', delay: 0.2});
    console.log(`onpeer not a function: ${await outcome((async () => {
        bus.onpeer = 1;
    })())}`);
})();
