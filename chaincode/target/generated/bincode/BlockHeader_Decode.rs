impl < __Context > :: bincode :: Decode < __Context > for BlockHeader
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
            Decode :: decode(decoder) ?, prev_hash : :: bincode :: Decode ::
            decode(decoder) ?, tx_count : :: bincode :: Decode ::
            decode(decoder) ?, tx_root : :: bincode :: Decode ::
            decode(decoder) ?, result_root : :: bincode :: Decode ::
            decode(decoder) ?, state_root : :: bincode :: Decode ::
            decode(decoder) ?, log_root : :: bincode :: Decode ::
            decode(decoder) ?, log_size : :: bincode :: Decode ::
            decode(decoder) ?, proposer : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for BlockHeader
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
            prev_hash : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, tx_count : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, tx_root : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, result_root : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, state_root : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, log_root : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, log_size : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, proposer : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}