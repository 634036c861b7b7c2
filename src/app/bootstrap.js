// The app host's own JavaScript, compiled into cashstory-app (embed.cmake).
// host.c evaluates this function expression and calls it with the natives
// object that natives.c builds. It defines the app's globals (console,
// timers, queueMicrotask, TextEncoder, TextDecoder, structuredClone, process,
// cashstory) and returns {runMain, process}.
//
// Natives used here: write, reportUncaught, exit, resolve, compile, readText,
// mainFilename, setTimer, clearTimer, encodeUtf8, decodeUtf8, fsReadFile,
// fsWriteFile, fsReaddir, fsStat, fsMkdir, fsRm, app, signatures, argv,
// version, createBus (bus.js, which uses more). The natives object itself
// stays private to this closure.
(function (native) {
    'use strict';

    // Built-ins this file calls later, kept so that an app that replaces
    // them does not change how the host behaves.
    const JSONParse = JSON.parse;
    const JSONStringify = JSON.stringify;
    const ObjectFreeze = Object.freeze;
    const ObjectKeys = Object.keys;
    const ObjectGetPrototypeOf = Object.getPrototypeOf;
    const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
    const ObjectDefineProperty = Object.defineProperty;
    const ObjectToString = Object.prototype.toString;
    const FunctionToString = Function.prototype.toString;
    const ArrayIsArray = Array.isArray;
    const ArrayBufferIsView = ArrayBuffer.isView;
    const promiseThen = Promise.prototype.then;
    const resolvedPromise = Promise.resolve();

    function defineGlobal(name, value, writable = true) {
        ObjectDefineProperty(globalThis, name, {
            value,
            writable,
            configurable: writable,
            enumerable: false,
        });
    }

    function argumentTypeError(message) {
        const error = new TypeError(message);
        error.code = 'ERR_INVALID_ARG_TYPE';
        return error;
    }

    function checkCallback(callback) {
        if (typeof callback !== 'function')
            throw argumentTypeError('The "callback" argument must be of type function');
    }

    // Run callback(...args) as a microtask. An exception in it is uncaught,
    // as in Node: it is reported and the process exits with status 1.
    function enqueueMicrotask(callback, args) {
        promiseThen.call(resolvedPromise, () => {
            try {
                callback(...args);
            } catch (error) {
                native.reportUncaught(error);
            }
        });
    }

    // ---- console -------------------------------------------------------

    // Values print much as Node's util.inspect prints them: nested objects
    // up to depth 2, strings quoted inside objects, at most 100 array items,
    // and one line per entry when one line would exceed 72 characters.
    const MAX_DEPTH = 2;
    const MAX_ITEMS = 100;
    const LINE_WIDTH = 72;

    function quote(text) {
        const q = text.includes("'") && !text.includes('"') ? '"' : "'";
        let out = q;
        for (const ch of text) {
            const code = ch.codePointAt(0);
            if (ch === q || ch === '\\')
                out += '\\' + ch;
            else if (ch === '\n')
                out += '\\n';
            else if (ch === '\r')
                out += '\\r';
            else if (ch === '\t')
                out += '\\t';
            else if (code < 0x20 || code === 0x7f)
                out += '\\x' + code.toString(16).padStart(2, '0');
            else
                out += ch;
        }
        return out + q;
    }

    function formatKey(key) {
        if (typeof key === 'symbol')
            return '[' + key.toString() + ']';
        return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : quote(key);
    }

    function constructorName(value) {
        const proto = ObjectGetPrototypeOf(value);
        if (proto === null)
            return null;
        const ctor = ObjectGetOwnPropertyDescriptor(proto, 'constructor');
        const name = ctor && typeof ctor.value === 'function' ? ctor.value.name : '';
        return name || 'Object';
    }

    function formatFunction(fn) {
        let source = '';
        try {
            source = FunctionToString.call(fn);
        } catch {
            // A revoked proxy, for example, cannot be printed as source.
        }
        if (source.startsWith('class'))
            return `[class ${fn.name || '(anonymous)'}]`;
        return fn.name ? `[Function: ${fn.name}]` : '[Function (anonymous)]';
    }

    // JavaScriptCore writes a stack frame as "function@file:line:column",
    // with an empty name for top-level and anonymous code. Print it as Node
    // does, "    at function (file:line:column)".
    function formatStack(stack) {
        const lines = [];
        for (const frame of String(stack).split('\n')) {
            if (frame === '')
                continue;
            const at = frame.indexOf('@');
            if (at < 0)
                lines.push(`    at ${frame}`);
            else if (at === 0)
                lines.push(`    at ${frame.slice(1)}`);
            else
                lines.push(`    at ${frame.slice(0, at)} (${frame.slice(at + 1)})`);
        }
        return lines.join('\n');
    }

    function formatError(error, depth) {
        let head;
        try {
            head = String(error);
        } catch {
            head = '[Error]';
        }
        if (depth > 0 || typeof error.stack !== 'string' || error.stack === '')
            return depth > 0 ? `[${head}]` : head;
        return head + '\n' + formatStack(error.stack);
    }

    function accessorLabel(descriptor) {
        if (descriptor.get && descriptor.set)
            return '[Getter/Setter]';
        return descriptor.get ? '[Getter]' : '[Setter]';
    }

    function formatProperty(object, key, depth, seen) {
        const descriptor = ObjectGetOwnPropertyDescriptor(object, key);
        let text;
        if (descriptor && (descriptor.get || descriptor.set))
            text = accessorLabel(descriptor);
        else
            text = inspect(object[key], depth + 1, seen);
        return `${formatKey(key)}: ${text}`;
    }

    function joinEntries(prefix, open, close, entries, depth) {
        if (entries.length === 0)
            return `${prefix}${open}${close}`;
        const oneLine = `${prefix}${open} ${entries.join(', ')} ${close}`;
        if (oneLine.length <= LINE_WIDTH && !oneLine.includes('\n'))
            return oneLine;
        const indent = '  '.repeat(depth + 1);
        return `${prefix}${open}\n${indent}${entries.join(`,\n${indent}`)}\n` +
               `${'  '.repeat(depth)}${close}`;
    }

    function listItems(values, depth, seen, format) {
        const entries = [];
        let count = 0;
        for (const value of values) {
            if (count++ === MAX_ITEMS)
                break;
            entries.push(format(value, depth, seen));
        }
        return entries;
    }

    function moreItems(entries, total) {
        if (total > MAX_ITEMS)
            entries.push(`... ${total - MAX_ITEMS} more item${total - MAX_ITEMS > 1 ? 's' : ''}`);
        return entries;
    }

    function inspectObject(value, depth, seen) {
        const name = constructorName(value);
        const tag = ObjectToString.call(value);
        if (value instanceof Error || tag === '[object Error]')
            return formatError(value, depth);
        if (tag === '[object Date]')
            return isNaN(value) ? 'Invalid Date' : value.toISOString();
        if (tag === '[object RegExp]')
            return String(value);
        if (tag === '[object Promise]')
            return 'Promise { <state unknown> }';
        if (seen.includes(value))
            return '[Circular]';
        if (depth > MAX_DEPTH)
            return ArrayIsArray(value) ? '[Array]' : `[${name || 'Object'}]`;

        seen.push(value);
        try {
            const item = (v, d, s) => inspect(v, d + 1, s);
            if (ArrayIsArray(value)) {
                const entries = [];
                for (let i = 0; i < value.length && i < MAX_ITEMS; i++)
                    entries.push(i in value ? item(value[i], depth, seen) : '<empty item>');
                return joinEntries('', '[', ']', moreItems(entries, value.length), depth);
            }
            if (ArrayBufferIsView(value) && tag !== '[object DataView]') {
                const entries = listItems(value, depth, seen, item);
                return joinEntries(`${name}(${value.length}) `, '[', ']',
                                   moreItems(entries, value.length), depth);
            }
            if (tag === '[object ArrayBuffer]')
                return `ArrayBuffer { byteLength: ${value.byteLength} }`;
            if (tag === '[object Map]') {
                const entries = listItems(value, depth, seen,
                                          ([k, v], d, s) => `${item(k, d, s)} => ${item(v, d, s)}`);
                return joinEntries(`Map(${value.size}) `, '{', '}',
                                   moreItems(entries, value.size), depth);
            }
            if (tag === '[object Set]') {
                const entries = listItems(value, depth, seen, item);
                return joinEntries(`Set(${value.size}) `, '{', '}',
                                   moreItems(entries, value.size), depth);
            }
            const entries = ObjectKeys(value).map(key => formatProperty(value, key, depth, seen));
            let prefix = '';
            if (name === null)
                prefix = '[Object: null prototype] ';
            else if (name !== 'Object')
                prefix = `${name} `;
            return joinEntries(prefix, '{', '}', entries, depth);
        } finally {
            seen.pop();
        }
    }

    function inspect(value, depth = 0, seen = []) {
        switch (typeof value) {
        case 'string':
            return quote(value);
        case 'number':
            return Object.is(value, -0) ? '-0' : String(value);
        case 'bigint':
            return `${value}n`;
        case 'symbol':
            return value.toString();
        case 'function':
            return formatFunction(value);
        case 'undefined':
        case 'boolean':
            return String(value);
        }
        if (value === null)
            return 'null';
        return inspectObject(value, depth, seen);
    }

    function formatOne(value) {
        return typeof value === 'string' ? value : inspect(value);
    }

    // Apply the format specifiers %s %d %i %f %j %o %O %c and %% of a first
    // string argument, as Node's util.format does.
    function applyFormat(format, args) {
        let next = 0;
        const text = format.replace(/%[sdifjoOc%]/g, spec => {
            if (spec === '%%')
                return '%';
            if (next >= args.length)
                return spec;
            const arg = args[next++];
            switch (spec) {
            case '%s':
                if (typeof arg === 'bigint')
                    return `${arg}n`;
                return typeof arg === 'object' && arg !== null ? inspect(arg, 1) : String(arg);
            case '%d':
                if (typeof arg === 'bigint')
                    return `${arg}n`;
                return typeof arg === 'symbol' ? 'NaN' : String(Number(arg));
            case '%i':
                return typeof arg === 'bigint' ? `${arg}n` : String(parseInt(arg, 10));
            case '%f':
                return String(parseFloat(arg));
            case '%j':
                try {
                    return JSONStringify(arg);
                } catch {
                    return '[Circular]';
                }
            case '%c':
                return '';
            default:
                return inspect(arg);
            }
        });
        return [text, args.slice(next)];
    }

    function formatArgs(args) {
        if (args.length > 0 && typeof args[0] === 'string' && args[0].includes('%')) {
            const [text, rest] = applyFormat(args[0], args.slice(1));
            return [text, ...rest.map(formatOne)].join(' ');
        }
        return args.map(formatOne).join(' ');
    }

    const consoleObject = {
        log: (...args) => native.write('log', formatArgs(args)),
        info: (...args) => native.write('info', formatArgs(args)),
        debug: (...args) => native.write('debug', formatArgs(args)),
        warn: (...args) => native.write('warn', formatArgs(args)),
        error: (...args) => native.write('error', formatArgs(args)),
        trace: (...args) => {
            const stack = formatStack(new Error().stack);
            native.write('error', `Trace: ${formatArgs(args)}\n${stack}`);
        },
        assert: (condition, ...args) => {
            if (!condition)
                native.write('error', args.length ? `Assertion failed: ${formatArgs(args)}` :
                                                    'Assertion failed');
        },
    };
    defineGlobal('console', consoleObject);

    // ---- timers and microtasks -----------------------------------------

    defineGlobal('setTimeout', function setTimeout(callback, delay, ...args) {
        checkCallback(callback);
        return native.setTimer(callback, delay, false, args);
    });
    defineGlobal('setInterval', function setInterval(callback, delay, ...args) {
        checkCallback(callback);
        return native.setTimer(callback, delay, true, args);
    });
    defineGlobal('clearTimeout', function clearTimeout(id) {
        native.clearTimer(id);
    });
    defineGlobal('clearInterval', function clearInterval(id) {
        native.clearTimer(id);
    });
    defineGlobal('queueMicrotask', function queueMicrotask(callback) {
        checkCallback(callback);
        enqueueMicrotask(callback, []);
    });

    // ---- TextEncoder and TextDecoder (UTF-8 only) ----------------------

    const utf8Labels = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8',
                                'unicode20utf8', 'x-unicode20utf8']);

    // First byte of a UTF-8 sequence by its length in bytes.
    const utf8Leads = [0, 0, 0xc0, 0xe0, 0xf0];

    // Number of UTF-8 bytes of a code point.
    function utf8Length(code) {
        if (code < 0x80)
            return 1;
        if (code < 0x800)
            return 2;
        return code < 0x10000 ? 3 : 4;
    }

    // Length of the UTF-8 sequence that lead byte b starts, or 1 for a byte
    // that cannot start one.
    function utf8SequenceLength(b) {
        if (b >= 0xf0 && b <= 0xf4)
            return 4;
        if (b >= 0xe0 && b <= 0xef)
            return 3;
        return b >= 0xc2 && b <= 0xdf ? 2 : 1;
    }

    class TextEncoder {
        get encoding() {
            return 'utf-8';
        }

        encode(input = '') {
            return native.encodeUtf8(String(input));
        }

        encodeInto(source, destination) {
            if (!(destination instanceof Uint8Array))
                throw argumentTypeError('The "destination" argument must be a Uint8Array');
            const text = String(source);
            let read = 0;
            let written = 0;
            while (read < text.length) {
                let code = text.codePointAt(read);
                const units = code > 0xffff ? 2 : 1;
                if (code >= 0xd800 && code <= 0xdfff)
                    code = 0xfffd; // a lone surrogate
                const size = utf8Length(code);
                if (written + size > destination.length)
                    break;
                if (size === 1) {
                    destination[written] = code;
                } else {
                    let shift = 6 * (size - 1);
                    destination[written] = utf8Leads[size] | (code >> shift);
                    for (let i = 1; i < size; i++) {
                        shift -= 6;
                        destination[written + i] = 0x80 | ((code >> shift) & 0x3f);
                    }
                }
                read += units;
                written += size;
            }
            return {read, written};
        }
    }

    function toBytes(input) {
        if (ObjectToString.call(input) === '[object ArrayBuffer]')
            return new Uint8Array(input);
        if (ArrayBufferIsView(input))
            return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        throw argumentTypeError(
            'The "input" argument must be an ArrayBuffer, a typed array or a DataView');
    }

    // Some lead bytes allow a narrower range for the byte after them, which
    // excludes overlong forms, surrogates and code points above U+10FFFF.
    function validSecondByte(lead, second) {
        let lower = 0x80;
        let upper = 0xbf;
        if (lead === 0xe0)
            lower = 0xa0;
        else if (lead === 0xf0)
            lower = 0x90;
        else if (lead === 0xed)
            upper = 0x9f;
        else if (lead === 0xf4)
            upper = 0x8f;
        return second >= lower && second <= upper;
    }

    // Number of bytes at the end of bytes that start a UTF-8 sequence the
    // next chunk may complete.
    function incompleteTail(bytes) {
        const end = bytes.length;
        for (let i = end - 1; i >= 0 && i >= end - 3; i--) {
            const b = bytes[i];
            if ((b & 0xc0) === 0x80)
                continue;
            const needed = utf8SequenceLength(b);
            if (needed === 1 || end - i >= needed)
                return 0;
            if (end - i > 1 && !validSecondByte(b, bytes[i + 1]))
                return 0;
            return end - i;
        }
        return 0;
    }

    class TextDecoder {
        #fatal;
        #ignoreBOM;
        #pending = null;
        #started = false;

        constructor(label = 'utf-8', options = {}) {
            const name = String(label).trim().toLowerCase();
            if (!utf8Labels.has(name)) {
                const error = new RangeError(
                    `The "${label}" encoding is not supported; the app host decodes only UTF-8`);
                error.code = 'ERR_ENCODING_NOT_SUPPORTED';
                throw error;
            }
            this.#fatal = Boolean(options && options.fatal);
            this.#ignoreBOM = Boolean(options && options.ignoreBOM);
        }

        get encoding() {
            return 'utf-8';
        }

        get fatal() {
            return this.#fatal;
        }

        get ignoreBOM() {
            return this.#ignoreBOM;
        }

        decode(input, options = {}) {
            const stream = Boolean(options && options.stream);
            let bytes = input === undefined ? new Uint8Array(0) : toBytes(input);
            if (this.#pending) {
                const joined = new Uint8Array(this.#pending.length + bytes.length);
                joined.set(this.#pending);
                joined.set(bytes, this.#pending.length);
                bytes = joined;
                this.#pending = null;
            }
            if (stream) {
                const keep = incompleteTail(bytes);
                if (keep > 0) {
                    this.#pending = bytes.slice(bytes.length - keep);
                    bytes = bytes.subarray(0, bytes.length - keep);
                }
            }
            let text;
            try {
                text = native.decodeUtf8(bytes, this.#fatal);
            } catch (error) {
                this.#pending = null;
                this.#started = false;
                throw error;
            }
            if (!this.#started && text.length > 0) {
                this.#started = true;
                if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff)
                    text = text.slice(1);
            }
            if (!stream)
                this.#started = false;
            return text;
        }
    }

    defineGlobal('TextEncoder', TextEncoder);
    defineGlobal('TextDecoder', TextDecoder);

    // ---- structuredClone -----------------------------------------------

    function dataCloneError(what) {
        const error = new Error(`${what} could not be cloned`);
        error.name = 'DataCloneError';
        return error;
    }

    const errorConstructors = {Error, EvalError, RangeError, ReferenceError, SyntaxError,
                               TypeError, URIError};

    // The structured clone algorithm of HTML for the types a JavaScript-only
    // host has: primitives, plain objects, arrays, Date, RegExp, Map, Set,
    // ArrayBuffer, typed arrays, DataView, errors and wrapper objects, with
    // shared and circular references kept. Other objects (functions,
    // symbols, promises, weak collections) throw a DataCloneError. Class
    // instances become plain objects, as in browsers.
    function structuredClone(value, options) {
        if (options && options.transfer && options.transfer.length > 0)
            throw new TypeError('structuredClone: the transfer option is not supported');
        const memory = new Map();

        function remember(original, copy) {
            memory.set(original, copy);
            return copy;
        }

        function cloneValue(v) {
            if (typeof v === 'symbol')
                throw dataCloneError(v.toString());
            if (typeof v === 'function')
                throw dataCloneError(formatFunction(v));
            if (typeof v !== 'object' || v === null)
                return v;
            if (memory.has(v))
                return memory.get(v);

            const tag = ObjectToString.call(v);
            if (ArrayIsArray(v)) {
                const copy = remember(v, new Array(v.length));
                for (const key of ObjectKeys(v))
                    copy[key] = cloneValue(v[key]);
                return copy;
            }
            switch (tag) {
            case '[object Date]':
                return remember(v, new Date(v.getTime()));
            case '[object RegExp]':
                return remember(v, new RegExp(v.source, v.flags));
            case '[object ArrayBuffer]':
                return remember(v, v.slice(0));
            case '[object Boolean]':
                return remember(v, Object(Boolean.prototype.valueOf.call(v)));
            case '[object Number]':
                return remember(v, Object(Number.prototype.valueOf.call(v)));
            case '[object String]':
                return remember(v, Object(String.prototype.valueOf.call(v)));
            case '[object Map]': {
                const copy = remember(v, new Map());
                for (const [key, item] of v)
                    copy.set(cloneValue(key), cloneValue(item));
                return copy;
            }
            case '[object Set]': {
                const copy = remember(v, new Set());
                for (const item of v)
                    copy.add(cloneValue(item));
                return copy;
            }
            case '[object Error]': {
                const Ctor = errorConstructors[v.name] || Error;
                const copy = remember(v, new Ctor(v.message));
                if (typeof v.stack === 'string')
                    copy.stack = v.stack;
                if ('cause' in v)
                    copy.cause = cloneValue(v.cause);
                return copy;
            }
            case '[object DataView]':
                return remember(v, new DataView(cloneValue(v.buffer), v.byteOffset, v.byteLength));
            case '[object Object]': {
                const copy = remember(v, {});
                for (const key of ObjectKeys(v))
                    copy[key] = cloneValue(v[key]);
                return copy;
            }
            }
            if (ArrayBufferIsView(v)) {
                const Ctor = v.constructor;
                return remember(v, new Ctor(cloneValue(v.buffer), v.byteOffset, v.length));
            }
            throw dataCloneError(tag);
        }

        return cloneValue(value);
    }

    defineGlobal('structuredClone', structuredClone);

    // ---- process -------------------------------------------------------

    function exitCodeOf(code) {
        if (code === undefined || code === null)
            code = process.exitCode ?? 0;
        if (typeof code === 'string' && /^-?[0-9]+$/.test(code))
            code = Number(code);
        if (!Number.isInteger(code))
            throw argumentTypeError(`The exit code must be an integer, got ${inspect(code)}`);
        return code;
    }

    // Only what the app may know: its arguments, and an empty environment,
    // never the host's.
    const process = {
        argv: Array.from(native.argv),
        env: {},
        exitCode: undefined,
        platform: 'linux',
        versions: ObjectFreeze({cashstory: native.version}),
        exit(code) {
            native.exit(exitCodeOf(code));
        },
        nextTick(callback, ...args) {
            checkCallback(callback);
            enqueueMicrotask(callback, args);
        },
    };
    defineGlobal('process', process);

    // ---- cashstory -----------------------------------------------------

    function deepFreeze(value) {
        if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
            ObjectFreeze(value);
            for (const key of ObjectKeys(value))
                deepFreeze(value[key]);
        }
        return value;
    }

    class Stats {
        constructor(fields) {
            this.type = fields.type;
            this.size = fields.size;
            this.mode = fields.mode;
            this.mtimeMs = fields.mtimeMs;
            this.atimeMs = fields.atimeMs;
            this.ctimeMs = fields.ctimeMs;
        }

        isFile() {
            return this.type === 'file';
        }

        isDirectory() {
            return this.type === 'directory';
        }

        isSymbolicLink() {
            return this.type === 'symlink';
        }
    }

    function wantsText(options) {
        const encoding = typeof options === 'string' ? options : options && options.encoding;
        if (encoding === undefined || encoding === null)
            return false;
        if (!utf8Labels.has(String(encoding).toLowerCase())) {
            const error = new TypeError(
                `cashstory.fs.readFile: the encoding '${encoding}' is not supported; use 'utf8' ` +
                'or read bytes');
            error.code = 'ERR_INVALID_ARG_VALUE';
            throw error;
        }
        return true;
    }

    // Each function is async, so that a denied request, which the native
    // throws before any system call, arrives as a rejected promise.
    const fs = ObjectFreeze({
        async readFile(path, options) {
            return native.fsReadFile(path, wantsText(options));
        },
        async writeFile(path, data) {
            if (ObjectToString.call(data) === '[object DataView]')
                data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            return native.fsWriteFile(path, data);
        },
        async readdir(path) {
            return native.fsReaddir(path);
        },
        async stat(path) {
            return new Stats(await native.fsStat(path));
        },
        async mkdir(path, options) {
            return native.fsMkdir(path, Boolean(options && options.recursive));
        },
        async rm(path, options) {
            return native.fsRm(path, Boolean(options && options.recursive),
                               Boolean(options && options.force));
        },
    });

    const cashstory = ObjectFreeze({
        app: deepFreeze(native.app),
        signatures: deepFreeze(native.signatures),
        fs,
        bus: native.createBus(native),
        version: native.version,
        exit(code) {
            native.exit(exitCodeOf(code));
        },
    });
    defineGlobal('cashstory', cashstory, false);

    // ---- CommonJS modules ----------------------------------------------

    // require.cache: module objects by file name ("/app/lib/a.js").
    const moduleCache = Object.create(null);
    let mainModule;

    function dirnameOf(filename) {
        return filename.slice(0, filename.lastIndexOf('/')) || '/';
    }

    function makeRequire(module) {
        function require(request) {
            return loadModule(native.resolve(request, module.filename), module, false);
        }
        require.resolve = function resolve(request) {
            return native.resolve(request, module.filename);
        };
        require.cache = moduleCache;
        ObjectDefineProperty(require, 'main', {get: () => mainModule, enumerable: true});
        return require;
    }

    class Module {
        constructor(filename, parent) {
            this.id = filename;
            this.filename = filename;
            this.path = dirnameOf(filename);
            this.exports = {};
            this.parent = parent;
            this.children = [];
            this.loaded = false;
            this.require = makeRequire(this);
        }
    }

    function parseJsonModule(filename) {
        const text = native.readText(filename);
        try {
            return JSONParse(text);
        } catch (error) {
            error.message = `${filename}: ${error.message}`;
            throw error;
        }
    }

    // Load filename once. While it loads, requiring it again returns its
    // partial exports, which is how Node handles cycles. A module whose code
    // throws leaves the cache, so that a later require tries again.
    function loadModule(filename, parent, isMain) {
        const cached = moduleCache[filename];
        if (cached !== undefined) {
            if (parent && !parent.children.includes(cached))
                parent.children.push(cached);
            return cached.exports;
        }
        const module = new Module(filename, parent);
        if (isMain) {
            module.id = '.';
            mainModule = module;
        }
        if (parent)
            parent.children.push(module);
        moduleCache[filename] = module;

        let loaded = false;
        try {
            if (filename.endsWith('.json')) {
                module.exports = parseJsonModule(filename);
            } else {
                const wrapper = native.compile(filename);
                wrapper.call(module.exports, module.exports, module.require, module, filename,
                             dirnameOf(filename));
            }
            loaded = true;
        } finally {
            if (!loaded)
                delete moduleCache[filename];
        }
        module.loaded = true;
        return module.exports;
    }

    function runMain() {
        loadModule(native.mainFilename, null, true);
    }

    return {runMain, process};
})
