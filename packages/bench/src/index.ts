// roost-bench as a library (bench:compare drives it): run a scenario, get its result line.
export { runScenario, type BenchResult, type RunHooks } from './scenarios.ts';
export { parseOptions, formatHelp, type BenchOptions } from './options.ts';
export { SCENARIOS, type ScenarioName } from './scenario-names.ts';
