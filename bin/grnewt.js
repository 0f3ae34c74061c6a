#!/usr/bin/env node
require('../dist/app/cli/main.js').main(process.argv);
