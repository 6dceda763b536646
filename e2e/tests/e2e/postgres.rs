//! The core journey again with every service on PostgreSQL, when
//! `TEST_DATABASE_URL` names a server; under CI it must (`backends()` fails
//! the run otherwise). Each service gets a fresh, uniquely named database
//! that its start-up creates and the test drops afterwards.

use bazaar_runtime::{db::Backend, testing::backends};

use crate::{journeys::customer_journey, system::System};

#[tokio::test]
async fn the_customer_journey_on_postgresql() {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("not run: TEST_DATABASE_URL does not name a PostgreSQL server (outside CI)");
        return;
    }
    let system = System::start_on(Backend::Postgres).await;
    assert!(
        system.stack.databases.describe().contains("postgres"),
        "{:?}",
        system.stack.databases
    );
    customer_journey(&system).await;
    system.stop_cleanly().await;
}
