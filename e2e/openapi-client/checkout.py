"""The checkout journey through a client generated from /openapi.json.

Usage: checkout.py GENERATED_DIR BASE_URL

GENERATED_DIR holds the package openapi-python-client wrote from the
gateway's document (e2e/tests/e2e/contract.rs generates it); this script
uses only what it generated: models, operations and their typed answers.
Prints the confirmed order's id; exits non-zero on any unexpected answer.
"""

import sys
import time
import uuid

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2]

from bazaar_rest_api_client import AuthenticatedClient, Client  # noqa: E402
from bazaar_rest_api_client.api.order_service import (  # noqa: E402
    order_service_get_order,
    order_service_place_order,
)
from bazaar_rest_api_client.api.product_service import (  # noqa: E402
    product_service_list_products,
)
from bazaar_rest_api_client.api.user_service import (  # noqa: E402
    user_service_login,
    user_service_register,
)
from bazaar_rest_api_client.models import (  # noqa: E402
    BazaarOrderV1GetOrderResponse,
    BazaarOrderV1OrderStatus,
    BazaarOrderV1PaymentMethod,
    BazaarOrderV1PlaceOrderRequest,
    BazaarOrderV1PlaceOrderRequestLineItem,
    BazaarOrderV1PlaceOrderResponse,
    BazaarPaymentV1Card,
    BazaarProductV1ListProductsResponse,
    BazaarUserV1LoginRequest,
    BazaarUserV1LoginResponse,
    BazaarUserV1RegisterRequest,
    BazaarUserV1RegisterResponse,
)


def expect(answer, kind):
    if not isinstance(answer, kind):
        sys.exit(f"expected {kind.__name__}, got {answer!r}")
    return answer


email = f"client-{uuid.uuid4().hex[:12]}@example.com"
password = "correct-horse-battery"
public = Client(base_url=BASE_URL, raise_on_unexpected_status=True)

expect(
    user_service_register.sync(
        client=public,
        body=BazaarUserV1RegisterRequest(
            email=email, password=password, display_name="Generated Client"
        ),
    ),
    BazaarUserV1RegisterResponse,
)
session = expect(
    user_service_login.sync(
        client=public, body=BazaarUserV1LoginRequest(email=email, password=password)
    ),
    BazaarUserV1LoginResponse,
)
customer = AuthenticatedClient(
    base_url=BASE_URL, token=session.access_token, raise_on_unexpected_status=True
)

catalog = expect(
    product_service_list_products.sync(client=public, page_size=5),
    BazaarProductV1ListProductsResponse,
)
in_stock = [p for p in catalog.products if int(p.stock) > 0]
if not in_stock:
    sys.exit("no product in stock")
product = in_stock[0]

placed = expect(
    order_service_place_order.sync(
        client=customer,
        body=BazaarOrderV1PlaceOrderRequest(
            idempotency_key=f"client-{uuid.uuid4()}",
            items=[BazaarOrderV1PlaceOrderRequestLineItem(product_id=product.id, quantity=1)],
            payment_method=BazaarOrderV1PaymentMethod(
                card=BazaarPaymentV1Card(
                    number="4242424242424242",
                    exp_month=12,
                    exp_year=2099,
                    cvc="123",
                    holder_name="Generated Client",
                )
            ),
        ),
    ),
    BazaarOrderV1PlaceOrderResponse,
)
order = placed.order
deadline = time.monotonic() + 20
while order.status == BazaarOrderV1OrderStatus.ORDER_STATUS_PENDING:
    if time.monotonic() > deadline:
        sys.exit(f"order {order.id} still pending")
    time.sleep(0.1)
    order = expect(
        order_service_get_order.sync(order_id=order.id, client=customer),
        BazaarOrderV1GetOrderResponse,
    ).order
if order.status != BazaarOrderV1OrderStatus.ORDER_STATUS_CONFIRMED:
    sys.exit(f"order {order.id} ended {order.status}: {order.failure_reason}")
if order.total.currency_code != product.price.currency_code:
    sys.exit(f"total {order.total} is not in the price's currency {product.price}")
print(order.id)
