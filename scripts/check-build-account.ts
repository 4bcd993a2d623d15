// The first step of both Cloud Build configurations: stops the build unless it
// runs as the account named, read from the metadata server every step can
// reach (GCE_METADATA_HOST overrides its address, as in Google's client
// libraries). A build started without --service-account would otherwise run as
// the project's default Cloud Build identity.
//
//   node scripts/check-build-account.ts ACCOUNT_EMAIL

const want = process.argv[2];
if (!want) {
  console.error('usage: node scripts/check-build-account.ts ACCOUNT_EMAIL');
  process.exit(2);
}
const host = process.env.GCE_METADATA_HOST || 'metadata.google.internal';
const answer = await fetch(
  `http://${host}/computeMetadata/v1/instance/service-accounts/default/email`,
  { headers: { 'Metadata-Flavor': 'Google' } },
);
const email = (await answer.text()).trim();
if (email !== want) {
  const project = want.split('@')[1]?.split('.')[0];
  console.error(
    `running as ${email}, not ${want}: start the build with --service-account=projects/${project}/serviceAccounts/${want}`,
  );
  process.exit(1);
}
console.log(`running as ${want}`);
