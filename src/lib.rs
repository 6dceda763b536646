//! Bazaar's contracts: the tonic/prost stubs generated from `proto/`, shared by
//! every crate, and the file descriptor set that reflection and the REST edge
//! read at run time.
//!
//! Module paths follow the proto packages: `bazaar.order.v1` is
//! [`order::v1`].

/// Money, shared by the catalog, orders and payments.
pub mod common {
    pub mod v1 {
        tonic::include_proto!("bazaar.common.v1");
    }
}

/// Accounts, credentials and sessions.
pub mod user {
    pub mod v1 {
        tonic::include_proto!("bazaar.user.v1");
    }
}

/// The catalog and its stock.
pub mod product {
    pub mod v1 {
        tonic::include_proto!("bazaar.product.v1");
    }
}

/// Checkout and orders.
pub mod order {
    pub mod v1 {
        tonic::include_proto!("bazaar.order.v1");
    }
}

/// Charges and refunds.
pub mod payment {
    pub mod v1 {
        tonic::include_proto!("bazaar.payment.v1");
    }
}

/// What customers are told about their orders.
pub mod notification {
    pub mod v1 {
        tonic::include_proto!("bazaar.notification.v1");
    }
}

impl std::fmt::Debug for payment::v1::Card {
    /// Shows at most the last four digits: a card number or CVC must never
    /// reach a log, whatever prints a request.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits: Vec<char> = self.number.chars().filter(char::is_ascii_digit).collect();
        let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
        f.debug_struct("Card")
            .field("number", &format_args!("****{last4}"))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &format_args!("***"))
            .field("holder_name", &self.holder_name)
            .finish()
    }
}

/// Every Bazaar proto file and its imports (including `google.api` HTTP rules
/// and source comments), encoded as a `google.protobuf.FileDescriptorSet`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/bazaar_descriptor.bin"));

/// Fully-qualified names of the five services.
pub const SERVICE_NAMES: [&str; 5] = [
    "bazaar.user.v1.UserService",
    "bazaar.product.v1.ProductService",
    "bazaar.order.v1.OrderService",
    "bazaar.payment.v1.PaymentService",
    "bazaar.notification.v1.NotificationService",
];
