/* seal.c - tests of daemon/store/seal.c: seal/unseal round trips, a fresh
 * nonce per record, every flipped byte and a wrong identity refused with
 * ED_ECORRUPT naming the record, key wrapping, keyed digests (the data
 * key's, domain- and boundary-separated), SHA-256 against a known vector. */
#include "../../test.h"

#include "store/seal.h"

static const uint8_t KEK[ED_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

ED_TEST(seals_and_refuses_tampering)
{
    char err[ED_ERR_LEN] = "";
    ed_seal_t *seal = NULL;
    ED_REQUIRE(ed_seal_open(&seal, err) == 0);
    uint8_t wrapped[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD];
    ED_CHECK_INT(ed_seal_seal(seal, "x", "a", 1, wrapped), ED_ESTATE);
    ED_REQUIRE(ed_seal_key_create(seal, KEK, wrapped, err) == 0);
    const char plain[] = "meet me at the station at noon";
    size_t len = sizeof plain - 1;
    uint8_t sealed[64], again[64], out[64];
    ED_REQUIRE(ed_seal_seal(seal, "doc:1:text", plain, len, sealed) == 0);
    ED_REQUIRE(ed_seal_seal(seal, "doc:1:text", plain, len, again) == 0);
    ED_CHECK(memcmp(sealed, again, ed_seal_size(len)) != 0); /* fresh nonce */
    ED_CHECK_INT(sealed[0], ED_SEAL_VERSION);
    ED_CHECK(memmem(sealed, ed_seal_size(len), "station", 7) == NULL);
    size_t out_len = 0;
    ED_REQUIRE(ed_seal_unseal(seal, "doc:1:text", sealed, ed_seal_size(len), out, &out_len, err) == 0);
    ED_CHECK_INT(out_len, len);
    ED_CHECK(memcmp(out, plain, len) == 0);
    ED_CHECK_INT(ed_seal_unseal(seal, "doc:2:text", sealed, ed_seal_size(len), out, &out_len, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "doc:2:text") != NULL);
    int refused = 0;
    for (size_t i = 0; i < ed_seal_size(len); i++) {
        sealed[i] ^= 0x40;
        refused += ed_seal_unseal(seal, "doc:1:text", sealed, ed_seal_size(len), out, &out_len, err) == ED_ECORRUPT;
        sealed[i] ^= 0x40;
    }
    ED_CHECK_INT(refused, ed_seal_size(len));
    ED_CHECK_INT(ed_seal_unseal(seal, "doc:1:text", sealed, 10, out, &out_len, err), ED_ECORRUPT);
    ed_seal_close(seal);

    /* The wrapped key reopens under the same kek only. */
    ED_REQUIRE(ed_seal_open(&seal, err) == 0);
    uint8_t other[ED_SEAL_KEY_LEN] = {9};
    ED_CHECK_INT(ed_seal_key_unwrap(seal, other, wrapped, sizeof wrapped, err), ED_EACCES);
    ED_CHECK(strstr(err, "wrong key file") != NULL);
    ED_REQUIRE(ed_seal_key_unwrap(seal, KEK, wrapped, sizeof wrapped, err) == 0);
    ED_REQUIRE(ed_seal_unseal(seal, "doc:1:text", again, ed_seal_size(len), out, &out_len, err) == 0);
    ED_CHECK(memcmp(out, plain, len) == 0);
    ed_seal_close(seal);
}

ED_TEST(sha256_known_vector)
{
    char hex[65];
    ed_seal_sha256_hex("abc", 3, hex);
    ED_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

ED_TEST(mac_is_keyed_and_separates_domains_and_parts)
{
    char err[ED_ERR_LEN] = "";
    ed_seal_t *seal = NULL, *other = NULL;
    ED_REQUIRE(ed_seal_open(&seal, err) == 0 && ed_seal_open(&other, err) == 0);
    uint8_t mac[ED_SEAL_MAC_LEN], again[ED_SEAL_MAC_LEN], wrapped[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD];
    ed_seal_part_t ab[2] = {{"ab", 2}, {"c", 1}}, a_bc[2] = {{"a", 1}, {"bc", 2}};
    ED_CHECK_INT(ed_seal_mac(seal, "source", ab, 2, mac), ED_ESTATE); /* no data key yet */
    ED_REQUIRE(ed_seal_key_create(seal, KEK, wrapped, err) == 0);
    ED_REQUIRE(ed_seal_mac(seal, "source", ab, 2, mac) == 0);
    ED_REQUIRE(ed_seal_mac(seal, "source", ab, 2, again) == 0);
    ED_CHECK(memcmp(mac, again, sizeof mac) == 0); /* deterministic: a lookup key */
    ED_REQUIRE(ed_seal_mac(seal, "source", a_bc, 2, again) == 0);
    ED_CHECK(memcmp(mac, again, sizeof mac) != 0); /* part boundaries count */
    ED_REQUIRE(ed_seal_mac(seal, "content", ab, 2, again) == 0);
    ED_CHECK(memcmp(mac, again, sizeof mac) != 0); /* so do domains */
    /* the same data key (unwrapped elsewhere) gives the same digest; it is
     * not a plain SHA-256 of the input */
    ED_REQUIRE(ed_seal_key_unwrap(other, KEK, wrapped, sizeof wrapped, err) == 0);
    ED_REQUIRE(ed_seal_mac(other, "source", ab, 2, again) == 0);
    ED_CHECK(memcmp(mac, again, sizeof mac) == 0);
    uint8_t plain[32];
    ed_seal_sha256("abc", 3, plain);
    ED_CHECK(memcmp(mac, plain, sizeof mac) != 0);
    ed_seal_close(other);
    /* another data key, another digest */
    ED_REQUIRE(ed_seal_open(&other, err) == 0);
    ED_REQUIRE(ed_seal_key_create(other, KEK, wrapped, err) == 0);
    ED_REQUIRE(ed_seal_mac(other, "source", ab, 2, again) == 0);
    ED_CHECK(memcmp(mac, again, sizeof mac) != 0);
    ed_seal_close(other);
    ed_seal_close(seal);
}

ED_TEST_MAIN(seals_and_refuses_tampering, sha256_known_vector, mac_is_keyed_and_separates_domains_and_parts)
