"""The examples of the Akinon user collections document (``api/akinon-user-collections.txt``).

Transcribed as Python data. The document's JSON does not parse as printed; these are its fixes:

- trailing commas removed (after the create answer's item, after the last ``attributes`` entry and
  after the ``productimage_set`` entry of the add-item answer);
- a comma added between two ``attributes_kwargs`` entries of the add-item answer.

Values the document masks with ``XX`` (SKUs, slug suffixes, image names) are kept as printed: the
contract tests compare keys and value types, not these values.
"""

from __future__ import annotations

from typing import Any

CREATE_REQUEST: dict[str, Any] = {"name": "Test Collection", "status": "public"}

_CREATE_RESPONSE_PRODUCT: dict[str, Any] = {
    "pk": 10,
    "sku": "190XX919",
    "attributes_kwargs": {},
    "data_source": None,
    "product_type": "0",
    "name": "Test Product",
    "parent": 2,
    "is_seller_product": False,
    "listing_code": None,
    "absolute_url": "/product/10/",
    "is_form_required": False,
    "is_active": True,
    "extra_attributes": {},
    "is_listable": False,
    "custom_attribute_set": None,
    "attribute_set": None,
    "group_products": [],
    "attributes": {},
    "base_code": None,
    "productimage_set": [],
}

CREATE_RESPONSE: dict[str, Any] = {
    "count": 2,
    "previous": None,
    "next": None,
    "results": [
        {
            "pk": 3,
            "status": "public",
            "name": "Test Collection",
            "slug": "test-collection-22958e2e492d428caXXXbbc346793860",
            "items": [
                {
                    "pk": 3,
                    "note": "Product note 1",
                    "product": _CREATE_RESPONSE_PRODUCT,
                    "created_date": "2024-10-21T06:57:28.647606Z",
                }
            ],
            "public_url": (
                "/wishlists/user-collection/test-collection-22958e2e492d428caXXXbbc346793860/"
            ),
        }
    ],
}

LIST_RESPONSE: dict[str, Any] = {
    "count": 1,
    "next": None,
    "previous": None,
    "results": [
        {
            "pk": 1,
            "status": "private",
            "name": "Test Collection",
            "slug": "test-collection",
            "items": [],
            "public_url": None,
        }
    ],
}

PATCH_REQUEST: dict[str, Any] = {"name": "Public Collection", "status": "public"}

PATCH_RESPONSE: dict[str, Any] = {
    "pk": 1,
    "status": "public",
    "name": "Public Collection",
    "slug": "test-collection-2",
    "items": [],
    "public_url": "/wishlists/user-collection/test-collection-2/",
}

RETRIEVE_RESPONSE: dict[str, Any] = dict(PATCH_RESPONSE)

ADD_ITEM_REQUEST: dict[str, Any] = {
    "product_id": 3239,
    "usercollection_id": 1,
    "note": "Test Note",
}

ADD_ITEM_PRODUCT: dict[str, Any] = {
    "pk": 3239,
    "name": "2-Li Aile Çerçevesi 13x18cm",
    "base_code": "1KCERX07XX",
    "sku": "26728XX0785XX",
    "product_type": "0",
    "is_active": True,
    "parent": None,
    "attributes": {
        "boyut": "13x18 CM",
        "uretim_yeri": "ÇİN",
        "renk": "STD",
        "integration_ProductCode": "1KCERV0784139",
        "integration_ProductHierarchyLevel01": "TEKSTİL DIŞI",
        "integration_ProductHierarchyLevel02": "Dekoratif",
        "integration_ProductAtt13Desc": "Dekoratif - %50+%50",
        "integration_ProductAtt12Desc": "%50 + %20 PROMOSYON",
    },
    "attributes_kwargs": {
        "integration_ProductHierarchyLevel01": {"value": "TEKSTİL DIŞI", "label": "TEKSTİL DIŞI"},
        "integration_ProductHierarchyLevel02": {"value": "Dekoratif", "label": "Dekoratif"},
        "renk": {"value": "STD", "label": "STD"},
    },
    "extra_attributes": {},
    "group_products": [],
    "productimage_set": [
        {
            "pk": 978,
            "status": "active",
            "image": (
                "https://cdn-xxxx.akinon.net/products/2017/01/23/2022/"
                "ce59ad7a-15f8-44d6-9c0d-XXf0fe5405ba.jpg"
            ),
            "order": 0,
            "created_date": "2017-01-24T10:38:10.663088Z",
            "specialimage_set": [],
        }
    ],
    "attribute_set": 62,
    "custom_attribute_set": None,
    "is_listable": True,
    "listing_code": None,
    "data_source": None,
}

ADD_ITEM_RESPONSE: dict[str, Any] = {
    "pk": 1,
    "product": ADD_ITEM_PRODUCT,
    "created_date": "2021-09-21T08:15:50.875425Z",
    "note": "Test Note",
}

_PUBLIC_RESPONSE_PRODUCT: dict[str, Any] = {
    "sku": "19051919",
    "attributes_kwargs": {},
    "data_source": None,
    "product_type": "1",
    "name": "test-prodc",
    "parent": None,
    "is_seller_product": False,
    "listing_code": None,
    "absolute_url": "/product/30/",
    "is_form_required": False,
    "is_active": True,
    "extra_attributes": {},
    "is_listable": False,
    "custom_attribute_set": None,
    "attribute_set": None,
    "group_products": [],
    "attributes": {},
    "base_code": None,
    "pk": 30,
    "productimage_set": [],
}

PUBLIC_RESPONSE: dict[str, Any] = {
    "status": "public",
    "name": "Test Coll",
    "items": [
        {
            "note": "test note",
            "pk": 6,
            "product": _PUBLIC_RESPONSE_PRODUCT,
            "created_date": "2024-10-11T14:49:42.254439Z",
        }
    ],
    "public_url": "/wishlists/user-collection/test-coll/",
    "pk": 4,
    "slug": "test-coll",
}

DOC_PRODUCTS: list[dict[str, Any]] = [
    _CREATE_RESPONSE_PRODUCT,
    _PUBLIC_RESPONSE_PRODUCT,
    # The add-item example omits three keys the other two examples show; a catalogue has them all.
    {
        **ADD_ITEM_PRODUCT,
        "is_seller_product": False,
        "absolute_url": "/product/3239/",
        "is_form_required": False,
    },
]
"""The three products the examples show, as a sandbox catalogue."""
