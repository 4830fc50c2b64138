impl < __Context > :: bincode :: Decode < __Context > for ChainParams
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            max_batch_codes : :: bincode :: Decode :: decode(decoder) ?,
            max_tx_validity_ms : :: bincode :: Decode :: decode(decoder) ?,
            proposal_ttl_ms : :: bincode :: Decode :: decode(decoder) ?,
            max_sealed_code_bytes : :: bincode :: Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for ChainParams
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            max_batch_codes : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, max_tx_validity_ms : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            proposal_ttl_ms : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, max_sealed_code_bytes : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}