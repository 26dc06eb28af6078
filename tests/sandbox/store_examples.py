"""The examples of the store's API document (``api/store-collections-rpc.txt``), verbatim.

Requests are kept exactly as printed, single quotes and tabs included, because that is what a user
pastes into curl. Responses are the document's JSON answers, except that the document indents them
with no-break spaces (not JSON whitespace), which are plain spaces here.
"""

# The document mixes tabs and spaces in its examples; they are kept as printed.
# ruff: noqa: E101

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DOC_API_KEY = "jjns7519v1v3ns6xU162"
DOC_IDS = ("00000000-0000-0000-0000-000000000000", "12345678-1234-1234-1234-123456781234")
"""The ids of the two collections in the ``get`` example response."""
DOC_CREATED_ID = "07bbae61-5623-4118-97be-368378b0abb0"
"""The id the ``create`` example answers with, which ``update`` and ``delete`` then use."""


@dataclass(frozen=True, slots=True)
class Example:
    handler: str
    """The path after ``/api/v1/products/``, e.g. ``collections/get``."""
    title: str
    request: str
    """The request body exactly as the document prints it."""
    response: str
    """The document's example answer to it."""

    @property
    def path(self) -> str:
        return f"/api/v1/products/{self.handler}"

    def expected(self) -> Any:
        return json.loads(self.response)


GET_RESPONSE = """[
   {
      "id": "00000000-0000-0000-0000-000000000000",
      "name": "Collection 1",
      "slug": "collection-1",
      "description": "Description example for collection 1",
      "seopagetitle": "SEO page",
      "seometakeywords": "SEO META keywords",
      "seopagedescription": "SEO META",
      "author": "Mr Example",
      "createdon": "2016-10-03 16:03:21"
   },
   {
      "id": "12345678-1234-1234-1234-123456781234",
      "name": "Collection 2",
      "slug": "collection-2",
      "description": "Description example for collection 2",
      "seopagetitle": "SEO page",
      "seometakeywords": "SEO META keywords",
      "seopagedescription": "SEO META",
      "author": "Mr Example",
      "createdon": "2016-10-03 16:07:40"
   }
]"""

COUNT_RESPONSE = """{
   "count": "2"
}"""

CREATE_RESPONSE = """[
   {
      "id": "07bbae61-5623-4118-97be-368378b0abb0",
      "name": "Collection 3",
      "slug": "collection-3",
      "description": "Description example for collection 3",
      "seopagetitle": "SEO page title",
      "seometakeywords": "SEO META keywords",
      "seopagedescription": "SEO META description",
      "author": "",
      "createdon": "2016-09-14 20:26:13"
   }
]"""

UPDATE_RESPONSE = """[
   {
      "id": "07bbae61-5623-4118-97be-368378b0abb0",
      "name": "Collection 3",
      "slug": "collection-3",
      "description": "Description example for collection 3",
      "seopagetitle": "SEO page title",
      "seometakeywords": "SEO META keywords",
      "seopagedescription": "SEO META description",
      "author": "",
      "createdon": "2016-09-14 20:26:13"
   }
]"""

DELETE_RESPONSE = """{
   "success": "true"
}"""

GET_ALL = Example(
    "collections/get",
    "Retrieve all the items (max 1000)",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        }
    }""",
    GET_RESPONSE,
)

GET_BY_ID = Example(
    "collections/get",
    "Retrieve specific items by ID",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        },
        'filters' : {
            'id' : ['00000000-0000-0000-0000-000000000000', '12345678-1234-1234-1234-123456781234']
        }
    }""",
    GET_RESPONSE,
)

GET_COMPLETE = Example(
    "collections/get",
    "Most complete request (just to give you the format of each parameter)",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        },
        'filters' : {
            'id': ['00000000-0000-0000-0000-000000000000', '12345678-1234-1234-1234-123456781234'],
		    'name' : ['Collection 1','Collection 2'],
		    'slug' : ['collection-1','collection-2'],
		    'createdon_min' : '2015-01-01',
		    'createdon_max' : '2042-01-01'
        },
        'pagination' : {
            'pageNumber' : '1',
            'pageSize' : '1000'
        }
    }""",
    GET_RESPONSE,
)

COUNT_ALL = Example(
    "collections/count",
    "Count the items",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        }
    }""",
    COUNT_RESPONSE,
)

COUNT_BY_DATE = Example(
    "collections/count",
    "Count specific items by creation date",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        },
        'filters' : {
            'createdon_min' : '2015-01-01',
		    'createdon_max' : '2042-01-01'
        }
    }""",
    COUNT_RESPONSE,
)

COUNT_COMPLETE = Example(
    "collections/count",
    "Most complete request (just to give you the format of each parameter)",
    """{
        'authentication' : {
            'apiKey' : 'jjns7519v1v3ns6xU162'
        },
        'filters' : {
            'id': ['00000000-0000-0000-0000-000000000000', '12345678-1234-1234-1234-123456781234'],
		    'name' : ['Collection 1','Collection 2'],
		    'slug' : ['collection-1','collection-2'],
		    'createdon_min' : '2015-01-01',
		    'createdon_max' : '2042-01-01'
        }
    }""",
    COUNT_RESPONSE,
)

CREATE = Example(
    "collections/create",
    "Most complete request",
    """{
    'authentication' : {
        'apiKey' : 'jjns7519v1v3ns6xU162'
    },
    'data' : [{
			'name' : 'Collection 3',
			'slug' : 'collection-3',
			'description' : 'Description example for collection 3',
			'seopagetitle' : 'SEO page title',
			'seopagedescription' : 'SEO META description',
			'seometakeywords' : 'SEO META keywords'
		}]
}""",
    CREATE_RESPONSE,
)

UPDATE = Example(
    "collections/update",
    "Most complete request",
    """{
    'authentication' : {
        'apiKey' : 'jjns7519v1v3ns6xU162'
    },
	'data' : [
		{
			'id' : '07bbae61-5623-4118-97be-368378b0abb0',
			'name' : 'Collection 3',
			'slug' : 'collection-3',
			'description' : 'Description example for collection 3',
			'seopagetitle' : 'SEO page title',
			'seopagedescription' : 'SEO META description',
			'seometakeywords' : 'SEO META keywords'
		}]
}""",
    UPDATE_RESPONSE,
)

DELETE = Example(
    "collections/delete",
    "Normal request",
    """{
    'authentication' : {
        'apiKey' : 'jjns7519v1v3ns6xU162'
    },
    'filter' : [{
        'id': ['07bbae61-5623-4118-97be-368378b0abb0']
    }]
}""",
    DELETE_RESPONSE,
)

READ_EXAMPLES = (GET_ALL, GET_BY_ID, GET_COMPLETE, COUNT_ALL, COUNT_BY_DATE, COUNT_COMPLETE)
WRITE_EXAMPLES = (CREATE, UPDATE, DELETE)
EXAMPLES = READ_EXAMPLES + WRITE_EXAMPLES
