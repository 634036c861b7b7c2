module.exports = { kind: 'widgets', loadedFrom: __filename };
