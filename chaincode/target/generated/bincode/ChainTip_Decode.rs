impl < __Context > :: bincode :: Decode < __Context > for ChainTip
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: Decode :: decode(decoder) ?, height : ::
            bincode :: Decode :: decode(decoder) ?, time_ms : :: bincode ::
            Decode :: decode(decoder) ?, block_hash : :: bincode :: Decode ::
            decode(decoder) ?, state_root : :: bincode :: Decode ::
            decode(decoder) ?, log : :: bincode :: Decode :: decode(decoder)
            ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for ChainTip
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, height : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, time_ms : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            block_hash : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, state_root : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, log : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}