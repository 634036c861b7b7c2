// cashstory.bus, compiled into cashstory-app (embed.cmake) next to
// bootstrap.js. bus.c evaluates this function expression and stores it as
// native.createBus, and bootstrap.js calls it with the natives object to get
// the frozen cashstory.bus object. docs/app-host.md documents the API.
//
// bus.c reads frames from the broker and calls dispatch(type, id, topic,
// meta, payload) for each, then closed(reason) once when the connection has
// ended. The payload of every message is JSON text.
//
// Natives used here: busAvailable, busStart, busSend, busKeepAlive,
// busCheckTopic, busCheckAppId, setTimer, clearTimer, write.
(function (native) {
    'use strict';

    // Built-ins kept before app code runs, as in bootstrap.js.
    const JSONParse = JSON.parse;
    const JSONStringify = JSON.stringify;
    const ObjectFreeze = Object.freeze;
    const ObjectIsFrozen = Object.isFrozen;
    const ObjectKeys = Object.keys;
    const ObjectHasOwn = Object.hasOwn;
    const ArrayIsArray = Array.isArray;
    const PromiseCtor = Promise;
    const PromiseResolve = Promise.resolve.bind(Promise);
    const PromiseReject = Promise.reject.bind(Promise);
    const promiseThen = Promise.prototype.then;

    // Frame types of src/bus/frame.h.
    const PUBLISH = 1;
    const SUBSCRIBE = 2;
    const UNSUBSCRIBE = 3;
    const SEND = 4;
    const REQUEST = 5;
    const RESPONSE = 6;
    const PEERS = 7;
    const WELCOME = 16;
    const DELIVER = 17;
    const INCOMING = 18;
    const REPLY = 19;
    const ACK = 20;
    const ERROR = 21;
    const PEER_LIST = 22;
    const PEER_EVENT = 23;

    const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
    const MAX_TIMEOUT_MS = 2147483647;
    // Warnings of one kind (an invalid payload, a message that no handler
    // takes) stop after this many, so that a peer cannot flood stderr.
    const MAX_WARNINGS_PER_KIND = 10;
    // Maximum length of a broker error message copied into an Error.
    const MAX_BROKER_MESSAGE = 1000;

    // 'open', 'closed' (the broker or the host ended the connection) or
    // 'none' (no --bus-fd).
    let state = native.busAvailable ? 'open' : 'none';
    let closeReason = '';
    let self = null;
    let lastId = 0;
    let keptAlive = false;
    let answering = 0; // INCOMING requests whose respond handler has not settled
    let readyPromise = null;
    let readyResolve = null;
    let readyReject = null;
    const handlers = {onmessage: null, onpeer: null, onerror: null};
    // Frames waiting for ACK, ERROR, REPLY or PEER_LIST, by frame id as
    // decimal text: {type, api, topic, appId, resolve, reject, timer, timeout}.
    const pending = new Map();
    // Active subscriptions by subscription id (decimal text): {pattern, handler}.
    const subscriptions = new Map();
    // Respond handlers in registration order: {pattern, handler}.
    const responders = [];
    const warningCounts = new Map();

    function deepFreeze(value) {
        if (typeof value === 'object' && value !== null && !ObjectIsFrozen(value)) {
            ObjectFreeze(value);
            for (const key of ObjectKeys(value))
                deepFreeze(value[key]);
        }
        return value;
    }

    function warn(text) {
        native.write('warn', `cashstory-app: warning: ${text}`);
    }

    // Print a warning unless MAX_WARNINGS_PER_KIND of this kind were printed.
    function warnLimited(kind, text) {
        const count = (warningCounts.get(kind) || 0) + 1;
        warningCounts.set(kind, count);
        if (count < MAX_WARNINGS_PER_KIND)
            warn(text);
        else if (count === MAX_WARNINGS_PER_KIND)
            warn(`${text} (further warnings of this kind are not printed)`);
    }

    function busError(message, code, fields) {
        const error = new Error(message);
        error.code = code;
        for (const key of ObjectKeys(fields || {}))
            error[key] = fields[key];
        return error;
    }

    function typeError(message, code) {
        const error = new TypeError(message);
        error.code = code;
        return error;
    }

    // ---- Keeping the event loop alive ------------------------------------

    // The socket keeps the loop running only while something can still
    // arrive for the app: subscriptions, respond handlers, an onmessage or
    // onpeer handler, frames waiting for the broker, respond handlers still
    // running, or a read `ready` before WELCOME. onerror alone does not.
    function updateKeepAlive() {
        const alive = state === 'open' &&
                      (subscriptions.size > 0 || responders.length > 0 || pending.size > 0 ||
                       answering > 0 || handlers.onmessage !== null || handlers.onpeer !== null ||
                       (readyPromise !== null && self === null));
        if (alive !== keptAlive) {
            keptAlive = alive;
            native.busKeepAlive(alive);
        }
    }

    // ---- Sending ---------------------------------------------------------

    function unavailable(api) {
        if (state === 'none')
            return busError(
                `${api}: the bus is not available: the app was not started by the daemon`,
                'ENOTCONN');
        return busError(`${api}: the connection to the broker is closed: ${closeReason}`,
                        'ECONNRESET');
    }

    // JSON text of data. undefined (and a function or symbol) becomes null;
    // a BigInt, a cycle or a throwing toJSON throws a TypeError here, before
    // anything is sent.
    function toPayload(api, data) {
        let text;
        try {
            text = JSONStringify(data);
        } catch (error) {
            const wrapped = typeError(
                `${api}: the data cannot be sent as JSON: ${errorMessageOf(error)}`,
                'ERR_INVALID_ARG_VALUE');
            wrapped.cause = error;
            throw wrapped;
        }
        return text === undefined ? 'null' : text;
    }

    function checkHandler(api, handler) {
        if (typeof handler !== 'function')
            throw typeError(`${api}: the handler must be a function`, 'ERR_INVALID_ARG_TYPE');
    }

    // Queue one frame. Returns null, or an ECONNRESET Error when the
    // connection has already ended. Throws a RangeError (EMSGSIZE) when a
    // field is over its limit.
    function sendFrame(api, type, id, topic, meta, payload) {
        const reason = native.busSend(type, id, topic, meta, payload, api);
        if (reason === undefined)
            return null;
        return busError(`${api}: the connection to the broker is closed: ${reason}`,
                        'ECONNRESET');
    }

    // Name a waiting frame for error messages, as in
    // "cashstory.bus.send to APP on 'TOPIC'".
    function describe(entry) {
        const on = entry.topic === undefined ? '' : ` on '${entry.topic}'`;
        const to = entry.appId === undefined ? '' : ` to ${entry.appId}`;
        if (entry.type === SUBSCRIBE)
            return `${entry.api} to '${entry.topic}'`;
        return `${entry.api}${to}${on}`;
    }

    function errorFields(entry) {
        const fields = {};
        if (entry.topic !== undefined)
            fields.topic = entry.topic;
        if (entry.appId !== undefined)
            fields.appId = entry.appId;
        return fields;
    }

    // Send a frame that the broker acknowledges or replies to, and return the
    // promise that the broker's frame settles. entry: {type, api, topic?,
    // appId?}.
    function call(entry, meta, payload, timeout) {
        const id = ++lastId;
        const failure = sendFrame(entry.api, entry.type, id, entry.topic, meta, payload);
        if (failure)
            return PromiseReject(failure);
        const key = String(id);
        return new PromiseCtor((resolve, reject) => {
            entry.resolve = resolve;
            entry.reject = reject;
            if (timeout !== undefined) {
                entry.timeout = timeout;
                entry.timer = native.setTimer(() => timeOut(key), timeout, false, []);
            }
            pending.set(key, entry);
            updateKeepAlive();
        });
    }

    // Remove and return the waiting frame with this id, or undefined.
    function takePending(key) {
        const entry = pending.get(key);
        if (entry === undefined)
            return undefined;
        pending.delete(key);
        if (entry.timer !== undefined)
            native.clearTimer(entry.timer);
        updateKeepAlive();
        return entry;
    }

    function timeOut(key) {
        const entry = pending.get(key);
        if (entry === undefined)
            return;
        entry.timer = undefined;
        takePending(key);
        entry.reject(busError(
            `${describe(entry)} timed out: no reply within ${entry.timeout} ms`, 'ETIMEDOUT',
            errorFields(entry)));
    }

    // ---- Receiving ---------------------------------------------------------

    // The identity that the broker wrote in meta, deeply frozen, or null
    // when meta is not a JSON object with a string appId.
    function parseIdentity(text) {
        if (text === undefined)
            return null;
        let value;
        try {
            value = JSONParse(text);
        } catch {
            return null;
        }
        if (typeof value !== 'object' || value === null || ArrayIsArray(value) ||
            typeof value.appId !== 'string')
            return null;
        return deepFreeze(value);
    }

    // Parse a JSON payload into {ok, value}. The payload is undefined when
    // its bytes were not UTF-8.
    function parsePayload(payload) {
        if (payload === undefined)
            return {ok: false, value: undefined};
        try {
            return {ok: true, value: JSONParse(payload)};
        } catch {
            return {ok: false, value: undefined};
        }
    }

    function warnInvalidPayload(what, topic, sender) {
        warnLimited('payload',
                    `cashstory.bus: the data of ${what} on '${topic}' from ${sender.appId} is ` +
                    'not valid JSON; the app receives data: undefined');
    }

    // Calls handler(message) for each handler with its own parse of the
    // payload, so that no handler sees what another one changed in data.
    function deliverTo(list, topic, payload, sender) {
        const first = parsePayload(payload);
        if (!first.ok)
            warnInvalidPayload('a message', topic, sender);
        let data = first.value;
        for (let i = 0; i < list.length; i++) {
            if (i > 0 && first.ok)
                data = JSONParse(payload);
            // Called as a plain function, so that `this` is no host object.
            const handler = list[i];
            handler(ObjectFreeze({topic, data, sender}));
        }
    }

    // Pattern segments separated by '/', where '*' matches exactly one
    // segment. The broker matches subscriptions itself, so the host matches
    // only to route SEND messages and INCOMING requests.
    function topicMatches(pattern, topic) {
        const wanted = pattern.split('/');
        const got = topic.split('/');
        if (wanted.length !== got.length)
            return false;
        for (let i = 0; i < wanted.length; i++)
            if (wanted[i] !== '*' && wanted[i] !== got[i])
                return false;
        return true;
    }

    // Errors that are no call's result: subscriptions the broker rejected,
    // broker errors for no frame of the app, the end of the connection.
    function reportError(error) {
        const onerror = handlers.onerror;
        if (onerror !== null)
            onerror(error);
        else
            warn(error.message);
    }

    function onWelcome(meta) {
        if (self !== null)
            return 'WELCOME arrived a second time';
        const identity = parseIdentity(meta);
        if (identity === null)
            return 'the meta field of WELCOME is not an identity (a JSON object with an appId)';
        self = identity;
        if (readyResolve !== null)
            readyResolve(self);
        updateKeepAlive();
        return undefined;
    }

    function onDeliver(id, topic, sender, payload) {
        if (id !== '0') {
            const subscription = subscriptions.get(id);
            // A message that crossed an UNSUBSCRIBE on the way is dropped.
            if (subscription !== undefined)
                deliverTo([subscription.handler], topic, payload, sender);
            return;
        }
        if (handlers.onmessage !== null) {
            deliverTo([handlers.onmessage], topic, payload, sender);
            return;
        }
        const matching = [];
        for (const subscription of subscriptions.values())
            if (topicMatches(subscription.pattern, topic))
                matching.push(subscription.handler);
        if (matching.length === 0)
            warnLimited('unhandled', `cashstory.bus: dropped a message on '${topic}' from ` +
                                     `${sender.appId}: no onmessage handler and no subscription ` +
                                     'matches its topic');
        else
            deliverTo(matching, topic, payload, sender);
    }

    function errorMessageOf(error) {
        try {
            if (typeof error === 'object' && error !== null && typeof error.message === 'string')
                return error.message;
            return String(error);
        } catch {
            return 'the respond handler failed with a value that cannot be converted to a string';
        }
    }

    // Send the RESPONSE to INCOMING request requestId: {"result": value} or
    // {"error": message, "code"?}.
    function sendResponse(requestId, envelope, topic) {
        const api = 'cashstory.bus.respond';
        let text;
        try {
            text = JSONStringify(envelope);
        } catch (error) {
            const reason = errorMessageOf(error);
            warn(`${api}: the result for '${topic}' cannot be sent as JSON: ${reason}`);
            text = JSONStringify({error: `the result cannot be sent as JSON: ${reason}`,
                                  code: 'ERR_INVALID_ARG_VALUE'});
        }
        try {
            sendFrame(api, RESPONSE, 0, undefined, requestId, text);
        } catch (error) {
            // A result over the payload limit: the requester gets an error.
            warn(error.message);
            sendFrame(api, RESPONSE, 0, undefined, requestId,
                      JSONStringify({error: error.message, code: error.code}));
        }
    }

    function failureEnvelope(error) {
        const envelope = {error: errorMessageOf(error)};
        if (typeof error === 'object' && error !== null && typeof error.code === 'string')
            envelope.code = error.code;
        return envelope;
    }

    function onIncoming(requestId, topic, sender, payload) {
        const responder = responders.find(r => topicMatches(r.pattern, topic));
        if (responder === undefined) {
            sendResponse(requestId, {
                error: `${self.appId} has no respond handler for '${topic}'`,
                code: 'ERR_BUS_NO_HANDLER',
            }, topic);
            return;
        }
        const parsed = parsePayload(payload);
        if (!parsed.ok)
            warnInvalidPayload('a request', topic, sender);

        answering++;
        updateKeepAlive();
        const finish = envelope => {
            answering--;
            sendResponse(requestId, envelope, topic);
            updateKeepAlive();
        };
        const handler = responder.handler;
        let result;
        try {
            result = handler(ObjectFreeze({topic, data: parsed.value, sender}));
        } catch (error) {
            finish(failureEnvelope(error));
            return;
        }
        // A handler's result that is undefined is sent as null.
        promiseThen.call(PromiseResolve(result),
                         value => finish({result: value === undefined ? null : value}),
                         error => finish(failureEnvelope(error)));
    }

    function onReply(id, sender, payload) {
        const entry = pending.get(id);
        if (entry === undefined || entry.type !== REQUEST)
            return; // a reply after the request timed out
        takePending(id);
        const parsed = parsePayload(payload);
        if (!parsed.ok)
            warnInvalidPayload('the reply', entry.topic, sender);
        const envelope = parsed.value;
        const isObject = typeof envelope === 'object' && envelope !== null && !ArrayIsArray(envelope);
        if (isObject && ObjectHasOwn(envelope, 'error')) {
            const code = typeof envelope.code === 'string' ? envelope.code : 'ERR_BUS_RESPONDER';
            const fields = errorFields(entry);
            fields.sender = sender;
            entry.reject(busError(String(envelope.error), code, fields));
            return;
        }
        let data;
        if (isObject && ObjectHasOwn(envelope, 'result'))
            data = envelope.result;
        else if (parsed.ok)
            warnLimited('payload',
                        `cashstory.bus: the reply to ${describe(entry)} from ${sender.appId} is ` +
                        'not a {"result"} or {"error"} JSON object; the app receives data: undefined');
        entry.resolve(ObjectFreeze({topic: entry.topic, data, sender}));
    }

    function onAck(id) {
        const entry = pending.get(id);
        // A request stays pending until its REPLY.
        if (entry === undefined || entry.type === REQUEST || entry.type === PEERS)
            return;
        takePending(id);
        if (entry.type !== SUBSCRIBE)
            entry.resolve(undefined);
    }

    function onError(id, code, payload) {
        const text = payload === undefined || payload === '' ? '(no message)' :
                                                                payload.slice(0, MAX_BROKER_MESSAGE);
        const errorCode = code || 'EIO';
        const entry = takePending(id);
        if (entry === undefined) {
            // Id 0 names no frame of the app. Other unknown ids belong to
            // calls that already ended (a request that timed out) or to an
            // UNSUBSCRIBE, and the app can do nothing about them.
            if (id === '0')
                reportError(busError(
                    `cashstory.bus: the broker reported an error: ${errorCode}: ${text}`,
                    errorCode));
            return;
        }
        const error = busError(`${describe(entry)} failed: ${errorCode}: ${text}`, errorCode,
                               errorFields(entry));
        if (entry.type !== SUBSCRIBE) {
            entry.reject(error);
            return;
        }
        subscriptions.delete(id);
        updateKeepAlive();
        reportError(error);
    }

    function onPeerList(id, payload) {
        const entry = pending.get(id);
        if (entry === undefined || entry.type !== PEERS)
            return;
        const parsed = parsePayload(payload);
        if (!parsed.ok || !ArrayIsArray(parsed.value))
            return 'the payload of PEER_LIST is not a JSON array';
        const peers = [];
        for (const item of parsed.value) {
            if (typeof item !== 'object' || item === null || ArrayIsArray(item) ||
                typeof item.appId !== 'string')
                return 'an entry of PEER_LIST is not an identity (a JSON object with an appId)';
            peers.push(deepFreeze(item));
        }
        takePending(id);
        entry.resolve(ObjectFreeze(peers));
        return undefined;
    }

    const frameNames = {
        [WELCOME]: 'WELCOME', [DELIVER]: 'DELIVER', [INCOMING]: 'INCOMING', [REPLY]: 'REPLY',
        [PEER_EVENT]: 'PEER_EVENT',
    };

    // Handle one frame from the broker. Returns a string that describes how
    // the frame breaks the protocol, and bus.c then ends the connection.
    function dispatch(type, id, topic, meta, payload) {
        if (type < WELCOME)
            return `a frame of type ${type}, which only apps send`;
        if (self === null && type !== WELCOME)
            return `the first frame is of type ${type}, not WELCOME`;
        let sender = null;
        if (type === DELIVER || type === INCOMING || type === REPLY || type === PEER_EVENT) {
            sender = parseIdentity(meta);
            if (sender === null)
                return `the meta field of ${frameNames[type]} is not an identity (a JSON object ` +
                       'with an appId)';
        }
        switch (type) {
        case WELCOME:
            return onWelcome(meta);
        case DELIVER:
            onDeliver(id, topic, sender, payload);
            return undefined;
        case INCOMING:
            onIncoming(id, topic, sender, payload);
            return undefined;
        case REPLY:
            onReply(id, sender, payload);
            return undefined;
        case ACK:
            onAck(id);
            return undefined;
        case ERROR:
            onError(id, topic, payload);
            return undefined;
        case PEER_LIST:
            return onPeerList(id, payload);
        case PEER_EVENT: {
            const onpeer = handlers.onpeer;
            if (onpeer !== null)
                onpeer(topic, sender);
            return undefined;
        }
        }
        return undefined;
    }

    // The connection has ended: every waiting call fails with ECONNRESET,
    // subscriptions and respond handlers end, and the loop is no longer
    // held. The app itself goes on.
    function closed(reason) {
        if (state !== 'open')
            return;
        state = 'closed';
        closeReason = reason;
        keptAlive = false;
        warn(`the bus connection is closed: ${reason}`);

        const entries = [...pending.values()];
        pending.clear();
        subscriptions.clear();
        responders.length = 0;
        for (const entry of entries) {
            if (entry.timer !== undefined)
                native.clearTimer(entry.timer);
            // A SUBSCRIBE has no promise: its subscription just ends.
            if (entry.reject === undefined)
                continue;
            entry.reject(busError(
                `${describe(entry)} failed: the connection to the broker is closed: ${reason}`,
                'ECONNRESET', errorFields(entry)));
        }
        if (readyReject !== null && self === null)
            readyReject(unavailable('cashstory.bus.ready'));
        const onerror = handlers.onerror;
        if (onerror !== null)
            onerror(busError(`cashstory.bus: the connection to the broker is closed: ${reason}`,
                             'ECONNRESET'));
    }

    // ---- The API -------------------------------------------------------------

    function checkTimeout(api, options) {
        if (options === undefined || options === null)
            return DEFAULT_REQUEST_TIMEOUT_MS;
        if (typeof options !== 'object')
            throw typeError(`${api}: the options must be an object such as {timeout: 1000}`,
                            'ERR_INVALID_ARG_TYPE');
        const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
        if (typeof timeout !== 'number' || !(timeout >= 1 && timeout <= MAX_TIMEOUT_MS)) {
            const error = new RangeError(
                `${api}: the timeout must be a number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
            error.code = 'ERR_OUT_OF_RANGE';
            throw error;
        }
        return timeout;
    }

    function setHandler(name, value) {
        if (value !== null && value !== undefined && typeof value !== 'function')
            throw typeError(`cashstory.bus.${name} must be a function or null`,
                            'ERR_INVALID_ARG_TYPE');
        handlers[name] = value ?? null;
        updateKeepAlive();
    }

    const bus = {
        publish(topic, data) {
            const api = 'cashstory.bus.publish';
            native.busCheckTopic(topic, false, api);
            const payload = toPayload(api, data);
            if (state !== 'open')
                return PromiseReject(unavailable(api));
            return call({type: PUBLISH, api, topic}, undefined, payload);
        },

        subscribe(topic, handler) {
            const api = 'cashstory.bus.subscribe';
            native.busCheckTopic(topic, true, api);
            checkHandler(api, handler);
            if (state !== 'open')
                throw unavailable(api);
            const id = ++lastId;
            const failure = sendFrame(api, SUBSCRIBE, id, topic, undefined, undefined);
            if (failure)
                throw failure;
            const key = String(id);
            pending.set(key, {type: SUBSCRIBE, api, topic});
            subscriptions.set(key, {pattern: topic, handler});
            updateKeepAlive();
            return function unsubscribe() {
                // Only the first call, while the subscription exists, sends
                // UNSUBSCRIBE.
                if (!subscriptions.delete(key))
                    return;
                sendFrame('cashstory.bus.unsubscribe', UNSUBSCRIBE, id, undefined, undefined,
                          undefined);
                updateKeepAlive();
            };
        },

        send(appId, topic, data) {
            const api = 'cashstory.bus.send';
            native.busCheckAppId(appId, api);
            native.busCheckTopic(topic, false, api);
            const payload = toPayload(api, data);
            if (state !== 'open')
                return PromiseReject(unavailable(api));
            return call({type: SEND, api, topic, appId}, appId, payload);
        },

        request(appId, topic, data, options) {
            const api = 'cashstory.bus.request';
            native.busCheckAppId(appId, api);
            native.busCheckTopic(topic, false, api);
            const timeout = checkTimeout(api, options);
            const payload = toPayload(api, data);
            if (state !== 'open')
                return PromiseReject(unavailable(api));
            return call({type: REQUEST, api, topic, appId}, appId, payload, timeout);
        },

        respond(topic, handler) {
            const api = 'cashstory.bus.respond';
            native.busCheckTopic(topic, true, api);
            checkHandler(api, handler);
            if (state !== 'open')
                throw unavailable(api);
            const responder = {pattern: topic, handler};
            responders.push(responder);
            updateKeepAlive();
            return function unrespond() {
                const index = responders.indexOf(responder);
                if (index >= 0) {
                    responders.splice(index, 1);
                    updateKeepAlive();
                }
            };
        },

        peers() {
            const api = 'cashstory.bus.peers';
            if (state !== 'open')
                return PromiseReject(unavailable(api));
            return call({type: PEERS, api}, undefined, undefined);
        },

        get self() {
            return self;
        },

        // Created on first read, so that an app that never reads it neither
        // waits for WELCOME nor gets an unhandled rejection without a bus.
        get ready() {
            if (readyPromise === null) {
                readyPromise = new PromiseCtor((resolve, reject) => {
                    readyResolve = resolve;
                    readyReject = reject;
                });
                if (self !== null)
                    readyResolve(self);
                else if (state !== 'open')
                    readyReject(unavailable('cashstory.bus.ready'));
                updateKeepAlive();
            }
            return readyPromise;
        },

        get onmessage() {
            return handlers.onmessage;
        },
        set onmessage(value) {
            setHandler('onmessage', value);
        },
        get onpeer() {
            return handlers.onpeer;
        },
        set onpeer(value) {
            setHandler('onpeer', value);
        },
        get onerror() {
            return handlers.onerror;
        },
        set onerror(value) {
            setHandler('onerror', value);
        },
    };

    if (state === 'open')
        native.busStart(dispatch, closed);
    return ObjectFreeze(bus);
})
