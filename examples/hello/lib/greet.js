function greet(name) {
  return `Hello from ${name}, verified before it loaded.`;
}

module.exports = { greet };
