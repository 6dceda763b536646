//! A small demo catalog, so a fresh `make run` has something to browse.

use bazaar_domain::Money;
use bazaar_runtime::status::ServiceError;

use crate::{
    domain::product::{Category, Description, NewProduct, ProductName, Sku, StockLevel},
    store::ProductStore,
};

/// sku, name, description, category, price in euro cents, stock.
type SeedProduct = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
);

const CATALOG: [SeedProduct; 12] = [
    (
        "KIT-CHEF-KNIFE-20",
        "Chef's Knife 20 cm",
        "Forged stainless steel chef's knife with a full tang and a riveted walnut handle.",
        "kitchen",
        8_900,
        40,
    ),
    (
        "KIT-DUTCH-OVEN-24",
        "Cast Iron Dutch Oven 24 cm",
        "Enamelled cast iron pot for braising, baking bread and slow stews; oven-safe to 250 °C.",
        "kitchen",
        12_900,
        25,
    ),
    (
        "KIT-POUR-OVER",
        "Ceramic Pour-Over Coffee Dripper",
        "Single-cup porcelain dripper for size 02 filters, with spiral ribs for an even extraction.",
        "kitchen",
        2_400,
        150,
    ),
    (
        "OFF-DESK-LAMP",
        "Adjustable LED Desk Lamp",
        "Aluminium desk lamp with a dimmable, flicker-free LED and three colour temperatures.",
        "home-office",
        5_900,
        60,
    ),
    (
        "OFF-NOTEBOOK-A5",
        "A5 Dotted Notebook",
        "192 numbered pages of 100 g/m² paper, lay-flat binding and an elastic closure.",
        "home-office",
        1_800,
        200,
    ),
    (
        "OFF-MONITOR-ARM",
        "Single Monitor Arm",
        "Gas-spring arm for screens up to 32 inches and 9 kg, with clamp and grommet mounts.",
        "home-office",
        7_900,
        30,
    ),
    (
        "OUT-TENT-2P",
        "Two-Person Trekking Tent",
        "Freestanding double-wall tent, 1.9 kg packed, with two doors and vestibules.",
        "outdoors",
        24_900,
        20,
    ),
    (
        "OUT-HEADLAMP-400",
        "Rechargeable Headlamp 400 lm",
        "USB-C rechargeable headlamp with red light mode and IPX4 splash resistance.",
        "outdoors",
        3_900,
        120,
    ),
    (
        "OUT-BOTTLE-750",
        "Insulated Steel Bottle 750 ml",
        "Double-walled stainless steel bottle that keeps drinks cold for 24 hours.",
        "outdoors",
        2_900,
        180,
    ),
    (
        "AUD-HEADPHONES-NC",
        "Wireless Noise-Cancelling Headphones",
        "Over-ear Bluetooth headphones with active noise cancelling and 30 hours of battery.",
        "audio",
        19_900,
        35,
    ),
    (
        "AUD-SPEAKER-MINI",
        "Portable Bluetooth Speaker",
        "Compact waterproof speaker with 12 hours of playback and a built-in strap.",
        "audio",
        4_900,
        90,
    ),
    (
        "AUD-TURNTABLE",
        "Belt-Drive Turntable",
        "Two-speed turntable with a built-in switchable phono preamp and an aluminium platter.",
        "audio",
        29_900,
        20,
    ),
];

/// The demo catalog as domain values.
fn catalog() -> Result<Vec<NewProduct>, ServiceError> {
    fn bug(error: impl std::fmt::Display) -> ServiceError {
        ServiceError::internal(format!("the seed catalog is invalid: {error}"))
    }
    CATALOG
        .iter()
        .map(|&(sku, name, description, category, cents, stock)| {
            Ok(NewProduct {
                sku: Sku::parse(sku.to_owned()).map_err(bug)?,
                name: ProductName::parse(name.to_owned()).map_err(bug)?,
                description: Description::parse(description.to_owned()).map_err(bug)?,
                category: Category::parse(category.to_owned()).map_err(bug)?,
                price: Money::from_parts("EUR", cents).map_err(bug)?,
                stock: StockLevel::parse(stock).map_err(bug)?,
            })
        })
        .collect()
}

/// Loads the demo catalog if the catalog is empty.
pub async fn load_if_empty(store: &impl ProductStore) -> Result<(), ServiceError> {
    let added = store.seed_if_empty(catalog()?).await?;
    if added > 0 {
        tracing::info!(products = added, "loaded the demo catalog");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_valid_and_skus_are_unique() {
        let products = catalog().expect("valid catalog");
        let mut skus: Vec<_> = products.iter().map(|p| p.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        assert_eq!(skus.len(), CATALOG.len());
    }
}
