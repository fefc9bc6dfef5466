// `shardgate demo`: the fleet demo (three voters, one learner, four echo upstreams, all on
// loopback); `shardgate demo --single`: the one-instance demo. Both run until Ctrl-C.

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--single")) {
    const { runSingleDemo } = await import("../app/demo/single-demo.js");
    return runSingleDemo(argv.filter((a) => a !== "--single"));
  }
  const { runFleetDemo } = await import("../app/demo/fleet-demo.js");
  return runFleetDemo(argv);
}
