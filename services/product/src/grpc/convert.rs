//! Domain types → wire messages.

use bazaar_proto::product::v1 as pb;
use bazaar_runtime::db::timestamp;

use crate::domain::{
    product::Product,
    reservation::{Reservation, ReservationState, ReservedItem},
};

impl From<Product> for pb::Product {
    fn from(product: Product) -> Self {
        Self {
            id: product.id.to_string(),
            sku: product.sku.as_str().to_owned(),
            name: product.name.as_str().to_owned(),
            description: product.description.as_str().to_owned(),
            category: product.category.as_str().to_owned(),
            price: Some(product.price.to_wire()),
            stock: product.stock.get(),
            create_time: Some(timestamp(product.create_time)),
            update_time: Some(timestamp(product.update_time)),
        }
    }
}

impl From<ReservationState> for pb::ReservationState {
    fn from(state: ReservationState) -> Self {
        match state {
            ReservationState::Reserved => Self::Reserved,
            ReservationState::Committed => Self::Committed,
            ReservationState::Released => Self::Released,
            ReservationState::Expired => Self::Expired,
        }
    }
}

impl From<ReservedItem> for pb::ReservedItem {
    fn from(item: ReservedItem) -> Self {
        Self {
            product_id: item.product_id.to_string(),
            quantity: item.quantity.get(),
            product_name: item.product_name,
            unit_price: Some(item.unit_price.to_wire()),
        }
    }
}

impl From<Reservation> for pb::Reservation {
    fn from(reservation: Reservation) -> Self {
        Self {
            order_id: reservation.order_id.as_str().to_owned(),
            items: reservation.items.into_iter().map(Into::into).collect(),
            state: pb::ReservationState::from(reservation.state).into(),
            create_time: Some(timestamp(reservation.create_time)),
            expire_time: Some(timestamp(reservation.expire_time)),
        }
    }
}
