// Prints, as JSON, what the `dotenv` package reads from the file named by argv[2]: its default
// parser and its `fast` one, as `config()` would load them (into an empty environment).
const dotenv = require("dotenv");

const read = (fast) => {
  const processEnv = {};
  const result = dotenv.config({ path: process.argv[2], processEnv, quiet: true, fast });
  if (result.error) throw result.error;
  return processEnv;
};
process.stdout.write(JSON.stringify({ default: read(false), fast: read(true) }));
