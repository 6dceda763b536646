//! `bazaar.product.v1.ProductService` over a [`ProductStore`].
//!
//! Each handler is the same three steps: check who is calling (admin RPCs),
//! parse the request into domain types, ask the store. Every error is a
//! `ServiceError`, turned into a status by the runtime's one mapping.

mod convert;
mod parse;

#[cfg(test)]
mod contract;

use std::time::Duration;

use bazaar_proto::product::v1::{
    CommitReservationRequest, CommitReservationResponse, CreateProductRequest,
    CreateProductResponse, DeleteProductRequest, DeleteProductResponse, GetProductRequest,
    GetProductResponse, ListProductsRequest, ListProductsResponse, ReleaseReservationRequest,
    ReleaseReservationResponse, ReserveStockRequest, ReserveStockResponse, UpdateProductRequest,
    UpdateProductResponse, product_service_server::ProductService,
};
use bazaar_runtime::{auth::principal, status::ServiceError};
use tonic::{Request, Response, Status};

use crate::{
    domain::listing::encode_page_token,
    metrics::StockMetrics,
    store::{INSUFFICIENT_STOCK, ProductStore},
};

/// The gRPC face of the catalog.
#[derive(Debug, Clone)]
pub struct ProductApi<S> {
    store: S,
    reservation_ttl: Duration,
    metrics: StockMetrics,
}

impl<S: ProductStore> ProductApi<S> {
    pub fn new(store: S, reservation_ttl: Duration, metrics: StockMetrics) -> Self {
        Self {
            store,
            reservation_ttl,
            metrics,
        }
    }
}

#[tonic::async_trait]
impl<S: ProductStore> ProductService for ProductApi<S> {
    async fn create_product(
        &self,
        request: Request<CreateProductRequest>,
    ) -> Result<Response<CreateProductResponse>, Status> {
        principal(&request)?.require_admin()?;
        let product = parse::create_product(request.into_inner())?;
        let product = Some(self.store.create(product).await?.into());
        Ok(Response::new(CreateProductResponse { product }))
    }

    async fn get_product(
        &self,
        request: Request<GetProductRequest>,
    ) -> Result<Response<GetProductResponse>, Status> {
        let id = parse::product_id("product_id", &request.get_ref().product_id)?;
        let product = Some(self.store.get(id).await?.into());
        Ok(Response::new(GetProductResponse { product }))
    }

    async fn list_products(
        &self,
        request: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        let query = parse::list_products(request.into_inner())?;
        let filter = query.filter.clone();
        let page = self.store.list(query).await?;
        Ok(Response::new(ListProductsResponse {
            next_page_token: page
                .next
                .map(|cursor| encode_page_token(&cursor, &filter))
                .unwrap_or_default(),
            products: page.products.into_iter().map(Into::into).collect(),
        }))
    }

    async fn update_product(
        &self,
        request: Request<UpdateProductRequest>,
    ) -> Result<Response<UpdateProductResponse>, Status> {
        principal(&request)?.require_admin()?;
        let (id, patch) = parse::update_product(request.into_inner())?;
        let product = Some(self.store.update(id, patch).await?.into());
        Ok(Response::new(UpdateProductResponse { product }))
    }

    async fn delete_product(
        &self,
        request: Request<DeleteProductRequest>,
    ) -> Result<Response<DeleteProductResponse>, Status> {
        principal(&request)?.require_admin()?;
        let id = parse::product_id("product_id", &request.get_ref().product_id)?;
        self.store.delete(id).await?;
        Ok(Response::new(DeleteProductResponse {}))
    }

    async fn reserve_stock(
        &self,
        request: Request<ReserveStockRequest>,
    ) -> Result<Response<ReserveStockResponse>, Status> {
        let reserve = parse::reserve_stock(request.into_inner())?;
        let reserved = self
            .store
            .reserve(reserve, self.reservation_ttl)
            .await
            .inspect_err(|error| {
                // Counted once refused: the refusal rolled everything back.
                if is_stockout(error) {
                    self.metrics.stockouts.inc();
                }
            })?;
        let reservation = Some(reserved.into());
        Ok(Response::new(ReserveStockResponse { reservation }))
    }

    async fn commit_reservation(
        &self,
        request: Request<CommitReservationRequest>,
    ) -> Result<Response<CommitReservationResponse>, Status> {
        let order_id = parse::order_id(request.into_inner().order_id)?;
        let reservation = Some(self.store.commit(order_id).await?.into());
        Ok(Response::new(CommitReservationResponse { reservation }))
    }

    async fn release_reservation(
        &self,
        request: Request<ReleaseReservationRequest>,
    ) -> Result<Response<ReleaseReservationResponse>, Status> {
        let order_id = parse::order_id(request.into_inner().order_id)?;
        let reservation = Some(self.store.release(order_id).await?.into());
        Ok(Response::new(ReleaseReservationResponse { reservation }))
    }
}

/// A reservation refused because a product had too little stock.
fn is_stockout(error: &ServiceError) -> bool {
    matches!(error, ServiceError::FailedPrecondition { reason, .. } if reason == INSUFFICIENT_STOCK)
}
